// The dashboard: the page and its JSON, read-only unless a token is set.
#include <rapidjson/document.h>

#include <charconv>

#include "base/digest.h"
#include "base/json.h"
#include "server/dashboard_assets.h"
#include "server/http_internal.h"

namespace pagoda::server {
namespace {

// No outside resource, no framing, no inline script: what the page is
// allowed to do is what it needs.
void Secure(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                 "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                 "frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
}

void Asset(httplib::Server& server, const std::string& path, const char* content,
           const char* type) {
  Route(server, path, "GET", [content, type](const httplib::Request&, httplib::Response& res) {
    Secure(res);
    res.status = 200;
    res.set_content(content, type);
  });
}

void Json(httplib::Response& res, const Result<std::string>& body) {
  Secure(res);
  if (body.ok()) {
    res.status = 200;
    res.set_content(*body, "application/json");
    return;
  }
  const Status& st = body.status();
  res.status = st.code() == Status::Code::kNotFound          ? 404
               : st.code() == Status::Code::kInvalidArgument ? 400
                                                             : 503;
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, "error", st.message());
  w.EndObject();
  res.set_content(buffer.GetString(), "application/json");
}

int Limit(const httplib::Request& req, int fallback) {
  const std::string text = req.get_param_value("limit");
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1) {
    return fallback;
  }
  return std::min(value, 1000);
}

// Whether the request may act: the token (constant time, of equal-length
// digests) and the header no other origin can send without a preflight.
Status MayAct(const httplib::Request& req, const std::string& token) {
  if (token.empty()) return Status::Unauthenticated("the dashboard is read-only");
  if (req.get_header_value("X-Pagoda-Dashboard") != "1") {
    return Status::Unauthenticated("X-Pagoda-Dashboard: 1 is required");
  }
  const std::string given = req.get_header_value("Authorization");
  const std::string_view prefix = "Bearer ";
  if (!given.starts_with(prefix) ||
      !ConstantTimeEqual(Sha256(std::string_view(given).substr(prefix.size())), Sha256(token))) {
    return Status::Unauthenticated("a valid dashboard token is required");
  }
  return Status::Ok();
}

void Act(const HttpEndpoints& e, const httplib::Request& req, httplib::Response& res,
         const std::string& action, const std::string& target, const std::string& to) {
  Secure(res);
  if (Status st = MayAct(req, e.dashboard_token); !st.ok() || !e.act) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"pagoda\"");
    res.status = 401;
    res.set_content("{\"error\":\"" + std::string(st.ok() ? "no actions" : st.message()) + "\"}",
                    "application/json");
    return;
  }
  if (action == "rollback" && to.empty()) {
    return Json(res, Result<std::string>(
                         Status::InvalidArgument("the body must be {\"to\": COMMIT-OR-RELEASE}")));
  }
  Result<std::string> done = e.act(action, target, to);
  if (!done.ok())
    return Json(res, Result<std::string>(Status::InvalidArgument(done.status().message())));
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::Key(w, "ok");
  w.Bool(true);
  json::String(w, "result", *done);
  w.EndObject();
  Json(res, std::string(buffer.GetString()));
}

}  // namespace

void AddDashboard(httplib::Server& server, const HttpEndpoints& e) {
  Asset(server, "/", assets::k_index_html, "text/html; charset=utf-8");
  Asset(server, "/dashboard.js", assets::k_dashboard_js, "text/javascript; charset=utf-8");
  Asset(server, "/dashboard.css", assets::k_dashboard_css, "text/css; charset=utf-8");
  auto missing = [] { return Result<std::string>(Status::NotFound("not served here")); };
  Route(server, "/api/v1/dashboard", "GET",
        [actions = !e.dashboard_token.empty() && e.act](const httplib::Request&,
                                                        httplib::Response& res) {
          Json(res, std::string(actions ? "{\"actions\":true}" : "{\"actions\":false}"));
        });
  Route(server, "/api/v1/environments", "GET",
        [e, missing](const httplib::Request&, httplib::Response& res) {
          Json(res, e.environments ? Result<std::string>(e.environments()) : missing());
        });
  Route(server, "/api/v1/releases", "GET",
        [e, missing](const httplib::Request& req, httplib::Response& res) {
          Json(res, e.releases ? e.releases(req.get_param_value("app"), req.get_param_value("env"),
                                            Limit(req, 100))
                               : missing());
        });
  Route(server, R"(/api/v1/releases/([A-Za-z0-9-]{1,64}))", "GET",
        [e, missing](const httplib::Request& req, httplib::Response& res) {
          Json(res, e.release ? e.release(req.matches[1]) : missing());
        });
  Route(server, "/api/v1/synclog", "GET",
        [e, missing](const httplib::Request& req, httplib::Response& res) {
          Json(res, e.sync_log ? e.sync_log(Limit(req, 50)) : missing());
        });
  Route(server, R"(/api/v1/releases/([A-Za-z0-9-]{1,64})/(pause|resume|abort))", "POST",
        [e](const httplib::Request& req, httplib::Response& res) {
          Act(e, req, res, req.matches[2], req.matches[1], "");
        });
  Route(server, R"(/api/v1/environments/([a-z0-9-]{1,63})/([a-z0-9-]{1,63})/rollback)", "POST",
        [e](const httplib::Request& req, httplib::Response& res) {
          rapidjson::Document body;
          std::string to;
          if (json::Parse(req.body, &body).ok() && body.IsObject()) to = json::StringAt(body, "to");
          Act(e, req, res, "rollback",
              std::string(req.matches[1]) + "/" + std::string(req.matches[2]), to);
        });
}

}  // namespace pagoda::server

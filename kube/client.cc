#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <optional>

#include "base/file.h"
#include "base/json.h"
#include "base/url.h"
#include "kube/kube.h"

namespace pagoda::kube {
namespace {

std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string UrlEncode(std::string_view s) { return PercentEncode(s); }

constexpr char kAggregatedDiscovery[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json";

void AddResource(std::vector<ResourceInfo>* out, const std::string& group,
                 const std::string& version, const rapidjson::Value& r, bool aggregated) {
  ResourceInfo info;
  info.group = group;
  info.version = version;
  info.resource = aggregated ? json::StringAt(r, "resource") : json::StringAt(r, "name");
  if (info.resource.empty() || info.resource.find('/') != std::string::npos) return;  // subresource
  if (aggregated) {
    info.kind = json::StringAt(r, {"responseKind", "kind"});
    info.namespaced = json::StringAt(r, "scope") == "Namespaced";
  } else {
    info.kind = json::StringAt(r, "kind");
    auto ns = r.FindMember("namespaced");
    info.namespaced = ns != r.MemberEnd() && ns->value.IsBool() && ns->value.GetBool();
  }
  if (auto verbs = r.FindMember("verbs"); verbs != r.MemberEnd() && verbs->value.IsArray()) {
    for (const auto& v : verbs->value.GetArray()) {
      if (v.IsString()) info.verbs.emplace_back(v.GetString());
    }
  }
  if (!info.kind.empty()) out->push_back(std::move(info));
}

}  // namespace

int64_t RequestStats::Writes() const {
  int64_t n = 0;
  for (const char* verb : {"POST", "PUT", "PATCH", "DELETE"}) {
    if (auto it = by_verb.find(verb); it != by_verb.end()) n += it->second;
  }
  return n;
}

int64_t RequestStats::Reads() const {
  int64_t n = 0;
  for (const char* verb : {"GET", "LIST"}) {
    if (auto it = by_verb.find(verb); it != by_verb.end()) n += it->second;
  }
  return n;
}

int64_t RequestStats::Total() const {
  int64_t n = 0;
  for (const auto& [verb, count] : by_verb) n += count;
  return n;
}

std::string ResourceInfo::ApiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

bool ResourceInfo::Supports(std::string_view verb) const {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

std::string ResourceInfo::CollectionPath(std::string_view ns) const {
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) path += "/namespaces/" + std::string(ns);
  return path + "/" + resource;
}

std::string ResourceInfo::ObjectPath(std::string_view ns, std::string_view name) const {
  return CollectionPath(ns) + "/" + std::string(name);
}

std::vector<std::string> WarningsOf(const HttpResponse& response) {
  std::vector<std::string> out;
  auto it = response.headers.find("warning");
  if (it == response.headers.end()) return out;
  std::string_view all = it->second;
  while (!all.empty()) {
    size_t nl = all.find('\n');
    std::string_view line = all.substr(0, nl);
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    // 299 - "text": the text is a quoted string with \-escapes.
    size_t open = line.find('"');
    size_t close = line.rfind('"');
    if (open == std::string_view::npos || close <= open) {
      if (!line.empty()) out.emplace_back(line);
      continue;
    }
    std::string text;
    for (size_t i = open + 1; i < close; ++i) {
      if (line[i] == '\\' && i + 1 < close) ++i;
      text += line[i];
    }
    out.push_back(std::move(text));
  }
  return out;
}

Status StatusFromResponse(std::string_view method, std::string_view path,
                          const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return Status::Ok();
  // The API server answers errors with a metav1.Status; fall back to the body.
  std::string message;
  std::string reason;
  rapidjson::Document doc;
  if (json::Parse(response.body, &doc).ok() && doc.IsObject()) {
    message = json::StringAt(doc, "message");
    reason = json::StringAt(doc, "reason");
  }
  if (message.empty()) message = TrimNewlines(response.body.substr(0, 512));
  std::string full = std::string(method) + " " + std::string(path) + ": " +
                     std::to_string(response.status) + " " + message;
  switch (response.status) {
    case 400:
    case 422:
      return Status::InvalidArgument(full);
    case 401:
      return Status::Unauthenticated(full);
    case 403:
      return Status::PermissionDenied(full);
    case 404:
    case 410:
      return Status::NotFound(full);
    case 409:
      return reason == "AlreadyExists" ? Status::AlreadyExists(full) : Status::Conflict(full);
    case 504:
      return Status::DeadlineExceeded(full);
    default:
      if (response.status == 429 || response.status >= 500) return Status::Unavailable(full);
      return Status::Internal(full);
  }
}

// Idle transports, created on demand up to a limit; a caller takes one for
// the duration of a request, so concurrent requests use separate connections.
struct KubeClient::Pool {
  std::function<Result<std::unique_ptr<HttpTransport>>()> factory;
  int limit = 4;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<HttpTransport>> idle;
  int created = 0;

  Result<std::unique_ptr<HttpTransport>> Take() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !idle.empty() || created < limit; });
    if (!idle.empty()) {
      auto t = std::move(idle.back());
      idle.pop_back();
      return t;
    }
    ++created;
    lock.unlock();
    auto made = factory();
    if (!made.ok()) {
      std::lock_guard<std::mutex> relock(mu);
      --created;
      cv.notify_one();
    }
    return made;
  }

  void Give(std::unique_ptr<HttpTransport> t) {
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(std::move(t));
    cv.notify_one();
  }
};

Result<std::unique_ptr<KubeClient>> KubeClient::Connect(Credentials creds, ClientOptions options) {
  if (!options.transport_factory) {
    TlsConfig tls{creds.ca_pem, creds.client_cert_pem, creds.client_key_pem,
                  creds.insecure_skip_tls_verify, creds.tls_server_name};
    options.transport_factory = [tls] { return NewCurlTransport(tls); };
  }
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(creds), std::move(options)));
}

KubeClient::KubeClient(Credentials creds, ClientOptions options)
    : creds_(std::move(creds)), options_(std::move(options)), pool_(std::make_unique<Pool>()) {
  if (options_.clock == nullptr) options_.clock = &RealClock();
  pool_->factory = options_.transport_factory;
  pool_->limit = std::max(1, options_.max_connections);
  bucket_ = std::make_unique<TokenBucket>(options_.qps, options_.burst, *options_.clock);
  rng_.seed(std::random_device{}());
}

KubeClient::~KubeClient() = default;

RequestStats KubeClient::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Result<rapidjson::Document> KubeClient::Get(std::string_view path) {
  return Call("GET", "GET", path, "", "");
}

Result<rapidjson::Document> KubeClient::Post(std::string_view path, const rapidjson::Value& body) {
  return Call("POST", "POST", path, "application/json", json::Compact(body));
}

Result<rapidjson::Document> KubeClient::Put(std::string_view path, const rapidjson::Value& body) {
  return Call("PUT", "PUT", path, "application/json", json::Compact(body));
}

Result<rapidjson::Document> KubeClient::Patch(std::string_view path, std::string_view content_type,
                                              std::string_view body,
                                              std::vector<std::string>* warnings) {
  bool dry_run = path.find("dryRun=All") != std::string_view::npos;
  return Call(dry_run ? "DRY-RUN" : "PATCH", "PATCH", path, content_type, std::string(body),
              "application/json", warnings);
}

Result<rapidjson::Document> KubeClient::Delete(std::string_view path, std::string_view body) {
  return Call("DELETE", "DELETE", path, body.empty() ? "" : "application/json", std::string(body));
}

Result<std::vector<rapidjson::Document>> KubeClient::List(std::string_view path,
                                                          rapidjson::MemoryPoolAllocator<>* pool,
                                                          std::string* resource_version) {
  std::vector<rapidjson::Document> items;
  std::string base(path);
  base += base.find('?') == std::string::npos ? "?limit=500" : "&limit=500";
  std::string cont;
  do {
    std::string page = cont.empty() ? base : base + "&continue=" + UrlEncode(cont);
    auto response = CallRaw("LIST", "GET", page, "", "", "application/json");
    if (!response.ok()) return response.status();
    rapidjson::Document doc;
    if (!json::Parse(response->body, &doc).ok() || !doc.IsObject()) {
      return Status::Internal("GET " + page + ": response is not a JSON object");
    }
    std::string().swap(response->body);  // the page is parsed: let it go before copying out
    cont.clear();
    if (auto meta = doc.FindMember("metadata"); meta != doc.MemberEnd()) {
      cont = json::StringAt(meta->value, "continue");
      if (resource_version != nullptr)
        *resource_version = json::StringAt(meta->value, "resourceVersion");
    }
    auto list = doc.FindMember("items");
    if (list == doc.MemberEnd() || !list->value.IsArray()) continue;
    // Items of a LIST lack apiVersion and kind; the list's kind names them.
    std::string api_version = json::StringAt(doc, "apiVersion");
    std::string kind = json::StringAt(doc, "kind");
    if (kind.size() > 4 && kind.ends_with("List")) kind.resize(kind.size() - 4);
    for (auto& item : list->value.GetArray()) {
      if (item.IsObject()) {
        if (auto meta = item.FindMember("metadata");
            meta != item.MemberEnd() && meta->value.IsObject()) {
          meta->value.RemoveMember("managedFields");
        }
      }
      rapidjson::Document one(pool);
      one.CopyFrom(item, one.GetAllocator());
      if (one.IsObject() && !one.HasMember("apiVersion")) {
        one.AddMember("apiVersion", rapidjson::Value(api_version.c_str(), one.GetAllocator()),
                      one.GetAllocator());
      }
      if (one.IsObject() && !one.HasMember("kind")) {
        one.AddMember("kind", rapidjson::Value(kind.c_str(), one.GetAllocator()),
                      one.GetAllocator());
      }
      items.push_back(std::move(one));
    }
  } while (!cont.empty());
  return items;
}

Status KubeClient::Watch(std::string_view path,
                         const std::function<bool(std::string_view)>& on_event,
                         std::chrono::seconds timeout) {
  auto request = MakeRequest("GET", path, "", "", "application/json");
  if (!request.ok()) return request.status();
  request->timeout = timeout;
  auto transport = options_.transport_factory();
  if (!transport.ok()) return transport.status();
  auto waited = limit_lifted_ ? std::chrono::nanoseconds(0) : bucket_->Acquire();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.by_verb["WATCH"]++;
    stats_.throttled += waited;
  }
  std::string pending;  // a partial event
  auto response = (*transport)->Stream(*request, [&](std::string_view piece) {
    if (piece.empty()) return on_event({});
    pending.append(piece);
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (nl > start && !on_event(std::string_view(pending).substr(start, nl - start))) {
        return false;
      }
    }
    pending.erase(0, start);
    return true;
  });
  if (!response.ok()) return response.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.by_code[response->status]++;
  }
  return StatusFromResponse("WATCH", path, *response);
}

void KubeClient::NoteFlowControl(const HttpResponse& response) {
  if (options_.limit_under_flow_control || limit_lifted_ || options_.qps <= 0) return;
  if (!response.headers.count("x-kubernetes-pf-flowschema-uid")) return;
  if (!limit_lifted_.exchange(true)) {
    spdlog::debug(
        "{} has API Priority and Fairness: the client-side rate limit is off, the "
        "server paces pagoda",
        creds_.server);
  }
}

void KubeClient::SetWriteObserver(WriteObserver observer) {
  std::lock_guard<std::mutex> lock(mu_);
  write_observer_ = std::move(observer);
}

Status KubeClient::Discover() {
  std::vector<ResourceInfo> found;
  for (const char* root : {"/api", "/apis"}) {
    auto doc = Call("GET", "GET", root, "", "", kAggregatedDiscovery);
    if (!doc.ok()) return doc.status().WithContext("discovery");
    if (json::StringAt(*doc, "kind") == "APIGroupDiscoveryList") {
      for (const auto& group : (*doc)["items"].GetArray()) {
        const std::string name = json::StringAt(group, {"metadata", "name"});
        auto versions = group.FindMember("versions");
        if (versions == group.MemberEnd()) continue;
        for (const auto& v : versions->value.GetArray()) {
          auto resources = v.FindMember("resources");
          if (resources == v.MemberEnd()) continue;
          for (const auto& r : resources->value.GetArray()) {
            AddResource(&found, name, json::StringAt(v, "version"), r, true);
          }
        }
      }
      continue;
    }
    // A server without aggregated discovery: one request per group version.
    std::vector<std::pair<std::string, std::string>> group_versions;  // (group, version)
    if (std::string_view(root) == "/api") {
      for (const auto& v : (*doc)["versions"].GetArray())
        group_versions.push_back({"", v.GetString()});
    } else {
      for (const auto& g : (*doc)["groups"].GetArray()) {
        for (const auto& v : g["versions"].GetArray()) {
          group_versions.push_back({json::StringAt(g, "name"), json::StringAt(v, "version")});
        }
      }
    }
    for (const auto& [group, version] : group_versions) {
      std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
      auto list = Get(path);
      if (!list.ok()) return list.status().WithContext("discovery");
      for (const auto& r : (*list)["resources"].GetArray())
        AddResource(&found, group, version, r, false);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  resources_ = std::move(found);
  discovered_ = true;
  return Status::Ok();
}

Result<std::vector<ResourceInfo>> KubeClient::Resources() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (discovered_) return resources_;
  }
  PAGODA_RETURN_IF_ERROR(Discover());
  std::lock_guard<std::mutex> lock(mu_);
  return resources_;
}

Result<ResourceInfo> KubeClient::Resource(std::string_view api_version, std::string_view kind) {
  std::string group, version(api_version);
  if (auto slash = api_version.find('/'); slash != std::string_view::npos) {
    group = std::string(api_version.substr(0, slash));
    version = std::string(api_version.substr(slash + 1));
  }
  for (int pass = 0; pass < 2; ++pass) {
    bool need = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      need = !discovered_ || pass == 1;
    }
    if (need) PAGODA_RETURN_IF_ERROR(Discover());
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : resources_) {
      if (r.group == group && r.version == version && r.kind == kind) return r;
    }
  }
  return Status::NotFound("the API server does not serve " + std::string(kind) + " in " +
                          std::string(api_version));
}

Result<HttpRequest> KubeClient::MakeRequest(std::string_view method, std::string_view path,
                                            std::string_view content_type, std::string body,
                                            std::string_view accept) {
  HttpRequest request;
  request.method = std::string(method);
  request.url = creds_.server + std::string(path);
  request.body = std::move(body);
  const bool write = method != "GET" && path.find("dryRun=All") == std::string_view::npos;
  request.timeout =
      write && options_.write_timeout.count() > 0 ? options_.write_timeout : options_.timeout;
  request.headers.emplace_back("Accept", std::string(accept));
  request.headers.emplace_back("User-Agent", options_.user_agent);
  if (!content_type.empty())
    request.headers.emplace_back("Content-Type", std::string(content_type));
  std::string token = creds_.bearer_token;
  if (token.empty() && !creds_.bearer_token_file.empty()) {
    // Re-read on every call: projected service account tokens are rotated
    // on disk by the kubelet, and the file is tiny.
    auto read = ReadFile(creds_.bearer_token_file, 64 << 10);
    if (!read.ok()) return read.status().WithContext("bearer token");
    token = TrimNewlines(std::move(*read));
  }
  if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
  return request;
}

Result<HttpResponse> KubeClient::CallRaw(std::string_view verb, std::string_view method,
                                         std::string_view path, std::string_view content_type,
                                         std::string body, std::string_view accept) {
  auto request = MakeRequest(method, path, content_type, std::move(body), accept);
  if (!request.ok()) return request.status();
  Result<HttpResponse> response = Status::Internal("no attempt made");
  const bool gated = options_.write_gate != nullptr && verb != "GET" && verb != "LIST" &&
                     verb != "DRY-RUN" && verb != "WATCH";
  for (int attempt = 1;; ++attempt) {
    auto waited = limit_lifted_ ? std::chrono::nanoseconds(0) : bucket_->Acquire();
    if (gated) PAGODA_RETURN_IF_ERROR(options_.write_gate->Enter(method, path));
    auto transport = pool_->Take();
    if (!transport.ok()) {
      if (gated) options_.write_gate->Leave(path);
      return transport.status();
    }
    response = (*transport)->Do(*request);
    pool_->Give(std::move(*transport));
    if (gated) options_.write_gate->Leave(path);
    if (response.ok()) NoteFlowControl(*response);
    std::optional<std::chrono::milliseconds> delay;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.by_verb[std::string(verb)]++;
      stats_.throttled += waited;
      if (response.ok()) stats_.by_code[response->status]++;
      delay = RetryDelay(options_.retry, attempt, method, response, rng_);
      if (delay) stats_.retries++;
    }
    if (!delay) break;
    options_.clock->SleepFor(*delay);
  }
  if (!response.ok()) return response.status();
  PAGODA_RETURN_IF_ERROR(StatusFromResponse(method, path, *response));
  return response;
}

Result<rapidjson::Document> KubeClient::Call(std::string_view verb, std::string_view method,
                                             std::string_view path, std::string_view content_type,
                                             std::string body, std::string_view accept,
                                             std::vector<std::string>* warnings) {
  auto response = CallRaw(verb, method, path, content_type, std::move(body), accept);
  if (!response.ok()) return response.status();
  if (warnings != nullptr) *warnings = WarningsOf(*response);
  rapidjson::Document doc;
  if (response->body.empty()) {
    doc.SetObject();
  } else if (Status parsed = json::Parse(response->body, &doc); !parsed.ok()) {
    return Status::Internal(std::string(method) + " " + std::string(path) +
                            ": response is not JSON: " + parsed.message());
  }
  if (method != "GET" && path.find("dryRun=All") == std::string_view::npos) {
    WriteObserver observer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      observer = write_observer_;
    }
    if (observer) observer(method, path, doc);
  }
  return doc;
}

}  // namespace pagoda::kube

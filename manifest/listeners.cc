// Public listeners: what each object takes for its whole cluster, the
// repository's claims on them, and who keeps a listener that several claim.
#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "base/json.h"
#include "manifest/manifest.h"
#include "manifest/validate.h"

namespace pagoda::manifest {
namespace {

using rapidjson::Value;

using json::Member;
using json::StringAt;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void IngressListeners(const Value& spec, std::vector<ObjectListener>* out) {
  std::vector<std::string> tls_hosts;
  if (const Value* tls = Member(spec, "tls"); tls != nullptr && tls->IsArray()) {
    for (const Value& entry : tls->GetArray()) {
      const Value* hosts = Member(entry, "hosts");
      if (hosts == nullptr || !hosts->IsArray()) continue;
      for (const Value& h : hosts->GetArray()) {
        tls_hosts.push_back(h.IsString() ? std::string(h.GetString(), h.GetStringLength()) : "");
      }
    }
  }
  auto web = [&](const std::string& host) {
    bool secure = std::find(tls_hosts.begin(), tls_hosts.end(), host) != tls_hosts.end();
    return ListenerKey{secure ? "https" : "http", secure ? 443 : 80, host};
  };
  if (const Value* rules = Member(spec, "rules"); rules != nullptr && rules->IsArray()) {
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      std::string host = Lower(StringAt((*rules)[i], "host"));
      out->push_back({web(host), "spec.rules[" + std::to_string(i) + "].host"});
    }
  }
  if (Member(spec, "defaultBackend") != nullptr) out->push_back({web(""), "spec.defaultBackend"});
}

void ServiceListeners(const Value& spec, std::vector<ObjectListener>* out) {
  if (StringAt(spec, "type") != "LoadBalancer") return;
  const Value* ports = Member(spec, "ports");
  if (ports == nullptr || !ports->IsArray()) return;
  for (rapidjson::SizeType i = 0; i < ports->Size(); ++i) {
    const Value* port = Member((*ports)[i], "port");
    if (port == nullptr || !port->IsInt()) continue;
    std::string protocol = Lower(StringAt((*ports)[i], "protocol"));
    if (protocol.empty()) protocol = "tcp";
    out->push_back({{protocol, port->GetInt(), ""}, "spec.ports[" + std::to_string(i) + "].port"});
  }
}

// The claims of one environment: its public listeners, on the objects that carry them.
void EnvironmentClaims(const AppResult& app, const Environment& env,
                       std::vector<ListenerClaim>* out) {
  for (size_t i = 0; i < env.traffic.size(); ++i) {
    const Listener& l = env.traffic[i];
    if (l.exposure != Exposure::kPublic || l.port.value == 0) continue;
    ListenerClaim claim{env.cluster.value,
                        app.name,
                        env.name.value,
                        "",
                        "",
                        {},
                        env.file,
                        l.pos,
                        "spec.traffic[" + std::to_string(i) + "]"};
    switch (l.protocol) {
      case Protocol::kTcp:
      case Protocol::kUdp:
        claim.kind = "Service";
        claim.name = env.name.value + "-public";
        claim.listener = {l.protocol == Protocol::kTcp ? "tcp" : "udp", l.port.value, ""};
        break;
      case Protocol::kHttp:
      case Protocol::kHttps:
        claim.kind = "Ingress";
        claim.name = env.name.value;
        claim.listener = {l.protocol == Protocol::kHttp ? "http" : "https", l.port.value,
                          Lower(l.host)};
        break;
    }
    out->push_back(std::move(claim));
  }
}

// The claims of the app's plain manifests, in every cluster the app runs in.
void ManifestClaims(const AppResult& app, std::vector<ListenerClaim>* out) {
  std::vector<std::string> clusters;
  for (const Environment& e : app.model().environments) {
    if (std::find(clusters.begin(), clusters.end(), e.cluster.value) == clusters.end())
      clusters.push_back(e.cluster.value);
  }
  std::sort(clusters.begin(), clusters.end());
  for (const PlainManifest& m : app.model().manifests) {
    for (const ObjectListener& l : ListenersOf(m.json)) {
      for (const std::string& cluster : clusters) {
        out->push_back({cluster, app.name, "", m.kind, m.name, l.key, m.file, m.pos, l.field});
      }
    }
  }
}

std::string Holder(const ListenerHolder& h) {
  return h.kind + " " + h.namespace_name + "/" + h.name;
}

HeldBack Hold(const ListenerClaim& claim, std::string message) {
  HeldBack held{claim.app, claim.env, "", "", std::move(message)};
  if (claim.env.empty()) {
    held.kind = claim.kind;
    held.name = claim.name;
  }
  return held;
}

// Who keeps one listener that `claims` (in file order) want.
void ResolveOne(const std::vector<const ListenerClaim*>& claims,
                const std::vector<const ListenerHolder*>& holders, std::vector<HeldBack>* out) {
  const ListenerClaim* keeper = nullptr;
  std::string why;
  const ListenerHolder* foreign = nullptr;
  for (const ListenerHolder* h : holders) {
    for (const ListenerClaim* c : claims) {
      bool own_object = h->namespace_name == c->app && h->kind == c->kind && h->name == c->name;
      if (own_object && keeper == nullptr) {
        keeper = c;
        why = c->Claimant() + " holds it in the cluster (" + Holder(*h) + ")";
      }
    }
  }
  for (const ListenerHolder* h : holders) {
    if (keeper != nullptr) break;
    for (const ListenerClaim* c : claims) {
      if (h->namespace_name == c->app) {
        keeper = c;
        why = "app " + c->app + " holds it in the cluster (" + Holder(*h) + ")";
        break;
      }
    }
    if (keeper == nullptr && foreign == nullptr) foreign = h;
  }
  if (keeper == nullptr && foreign == nullptr) {
    keeper = claims.front();
    why = keeper->Claimant() + " claims it first in the repository (" + keeper->Where() + ")";
  }
  for (const ListenerClaim* c : claims) {
    if (keeper != nullptr && c->SameClaimant(*keeper)) continue;
    std::string message = "the public listener " + c->listener.ToString() + " in cluster " +
                          c->cluster + " (" + c->Where() + ") ";
    if (keeper == nullptr) {
      message += "is held by " + Holder(*foreign) +
                 ", which the repository does not render; pagoda leaves it to its owner";
    } else {
      message += "is also claimed by " + keeper->Claimant() + " (" + keeper->Where() + "): " + why +
                 ", so " + c->Claimant() + " waits until one of them gives it up";
    }
    out->push_back(Hold(*c, std::move(message)));
  }
}

}  // namespace

std::string ListenerKey::Identity() const {
  if (Web()) return "host " + (host.empty() ? std::string("(any)") : host);
  return protocol + " port " + std::to_string(port);
}

std::string ListenerKey::ToString() const {
  std::string out = protocol + " port " + std::to_string(port);
  if (Web()) out += " host " + (host.empty() ? std::string("(any)") : host);
  return out;
}

std::vector<ObjectListener> ListenersOf(std::string_view object_json) {
  rapidjson::Document doc;
  doc.Parse(object_json.data(), object_json.size());
  std::vector<ObjectListener> out;
  if (doc.HasParseError() || !doc.IsObject()) return out;
  const std::string kind = StringAt(doc, "kind");
  const std::string api_version = StringAt(doc, "apiVersion");
  const Value* spec = Member(doc, "spec");
  if (spec == nullptr) return out;
  if (kind == "Ingress" && api_version.starts_with("networking.k8s.io/")) {
    IngressListeners(*spec, &out);
  } else if (kind == "Service" && api_version == "v1") {
    ServiceListeners(*spec, &out);
  }
  return out;
}

std::string ListenerClaim::Claimant() const {
  return env.empty() ? app + "'s " + kind + " " + name : app + "/" + env;
}

std::string ListenerClaim::Where() const { return FilePos(file, pos); }

bool ListenerClaim::SameClaimant(const ListenerClaim& other) const {
  return app == other.app && env == other.env && (!env.empty() || name == other.name);
}

std::vector<HeldBack> ResolveListenerClaims(const std::vector<ListenerClaim>& claims,
                                            const std::vector<ListenerHolder>& holders) {
  std::map<std::string, std::vector<const ListenerClaim*>> by_listener;
  for (const ListenerClaim& c : claims) by_listener[c.listener.Identity()].push_back(&c);
  std::map<std::string, std::vector<const ListenerHolder*>> held;
  for (const ListenerHolder& h : holders) held[h.listener.Identity()].push_back(&h);
  std::vector<HeldBack> out;
  for (auto& [identity, list] : by_listener) {
    std::stable_sort(list.begin(), list.end(), [](const ListenerClaim* a, const ListenerClaim* b) {
      return std::tie(a->file, a->pos.line, a->pos.column) <
             std::tie(b->file, b->pos.line, b->pos.column);
    });
    auto h = held.find(identity);
    ResolveOne(list, h == held.end() ? std::vector<const ListenerHolder*>{} : h->second, &out);
  }
  // A claimant held back for one listener is held back once, with its first reason.
  std::vector<HeldBack> unique;
  for (HeldBack& b : out) {
    bool seen = std::any_of(unique.begin(), unique.end(), [&](const HeldBack& u) {
      return u.app == b.app && u.env == b.env && u.kind == b.kind && u.name == b.name;
    });
    if (!seen) unique.push_back(std::move(b));
  }
  return unique;
}

bool ListenerClaim::operator==(const ListenerClaim& o) const {
  return std::tie(cluster, app, env, kind, name, listener, file, pos.line, pos.column, field) ==
         std::tie(o.cluster, o.app, o.env, o.kind, o.name, o.listener, o.file, o.pos.line,
                  o.pos.column, o.field);
}

std::vector<ListenerClaim> AppListenerClaims(const AppResult& app) {
  std::vector<ListenerClaim> claims;
  if (HasErrors(app.diagnostics)) return claims;
  for (const Environment& env : app.model().environments) EnvironmentClaims(app, env, &claims);
  ManifestClaims(app, &claims);
  return claims;
}

ListenerCheck CheckPublicListeners(
    const std::vector<std::shared_ptr<const std::vector<ListenerClaim>>>& by_app) {
  auto claims = std::make_shared<std::vector<ListenerClaim>>();
  for (const auto& app : by_app) {
    if (app != nullptr) claims->insert(claims->end(), app->begin(), app->end());
  }
  std::stable_sort(claims->begin(), claims->end(),
                   [](const ListenerClaim& a, const ListenerClaim& b) {
                     return std::tie(a.file, a.pos.line, a.pos.column) <
                            std::tie(b.file, b.pos.line, b.pos.column);
                   });
  ListenerCheck out;
  std::map<std::pair<std::string, std::string>, std::vector<const ListenerClaim*>> groups;
  for (const ListenerClaim& c : *claims) groups[{c.cluster, c.listener.Identity()}].push_back(&c);
  for (const auto& [key, list] : groups) {
    for (const ListenerClaim* c : list) {
      std::string others;
      for (const ListenerClaim* o : list) {
        if (o->SameClaimant(*c)) continue;
        others += (others.empty() ? "" : ", ") + o->Claimant() + " (" + o->Where() + ")";
      }
      if (others.empty()) continue;
      out.diagnostics.push_back(
          {Severity::kError, c->file, c->pos.line, c->pos.column, c->field,
           "the public listener " + c->listener.ToString() + " in cluster " + c->cluster +
               " is also claimed by " + others +
               "; the claimant holding it in the cluster keeps it, else the first in the "
               "repository, and the others are not released"});
    }
  }
  if (!claims->empty()) out.claims = std::move(claims);
  return out;
}

}  // namespace pagoda::manifest

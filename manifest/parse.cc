// The document envelope, App, Environment and plain manifests.
#include "manifest/parse.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <set>

#include "manifest/fields.h"
#include "manifest/json.h"
#include "manifest/names.h"
#include "manifest/pod_security.h"

namespace pagoda::manifest {

namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Kinds Kubernetes serves cluster-scoped. Unknown kinds are taken as
// namespaced here; the cluster's discovery settles them when pagoda applies.
const std::set<std::string, std::less<>>& ClusterScopedKinds() {
  static const std::set<std::string, std::less<>> kinds = {
      "APIService",
      "CSIDriver",
      "CSINode",
      "CertificateSigningRequest",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterTrustBundle",
      "ComponentStatus",
      "CustomResourceDefinition",
      "DeviceClass",
      "FlowSchema",
      "IPAddress",
      "IngressClass",
      "MutatingAdmissionPolicy",
      "MutatingAdmissionPolicyBinding",
      "MutatingWebhookConfiguration",
      "Namespace",
      "Node",
      "PersistentVolume",
      "PriorityClass",
      "PriorityLevelConfiguration",
      "RuntimeClass",
      "SelfSubjectAccessReview",
      "SelfSubjectReview",
      "SelfSubjectRulesReview",
      "ServiceCIDR",
      "StorageClass",
      "StorageVersion",
      "StorageVersionMigration",
      "SubjectAccessReview",
      "TokenReview",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
      "ValidatingWebhookConfiguration",
      "VolumeAttachment",
      "VolumeAttributesClass",
  };
  return kinds;
}

// "apps/v1" → "apps"; "v1" → "".
std::string GroupOf(const std::string& api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

// A Service's externalIPs take traffic for those addresses from every node
// of the cluster, whoever they belong to (CVE-2020-8554): not an app's to set.
void CheckExternalIps(const YamlNode& doc, Sink& sink) {
  for (const YamlEntry& e : doc.entries) {
    if (e.key != "spec" || !e.value.IsMap()) continue;
    for (const YamlEntry& f : e.value.entries) {
      if (f.key != "externalIPs" || f.value.IsNull()) continue;
      if (f.value.IsSequence() && f.value.items.empty()) continue;
      sink.Error(f.value.pos, "spec.externalIPs",
                 "a Service of an app may not take external IPs: they would capture that traffic "
                 "on every node of the cluster (CVE-2020-8554)");
    }
  }
}

void ParseListener(Sink& sink, const YamlNode& node, const std::string& path, Listener* out) {
  Fields f(sink, node, path);
  out->pos = node.pos;
  if (const YamlNode* n = f.Need("name")) {
    if (GetString(sink, *n, f.Path("name"), &out->name)) {
      CheckName(sink, out->name, f.Path("name"), CheckDns1123Label);
    }
  }
  int protocol = 0;
  if (const YamlNode* n = f.Need("protocol", "tcp, udp, http or https")) {
    if (GetChoice(sink, *n, f.Path("protocol"), {"tcp", "udp", "http", "https"}, &protocol)) {
      out->protocol = static_cast<Protocol>(protocol);
    }
  }
  if (const YamlNode* n = f.Need("port")) GetPort(sink, *n, f.Path("port"), &out->port);
  out->target_port = out->port;
  if (const YamlNode* n = f.Get("targetPort")) {
    GetPort(sink, *n, f.Path("targetPort"), &out->target_port);
  }
  int exposure = 0;
  if (const YamlNode* n = f.Get("exposure")) {
    if (GetChoice(sink, *n, f.Path("exposure"), {"internal", "public"}, &exposure)) {
      out->exposure = static_cast<Exposure>(exposure);
    }
  }
  if (const YamlNode* n = f.Get("sessionAffinity")) {
    GetBool(sink, *n, f.Path("sessionAffinity"), &out->session_affinity);
  }
  bool web = out->protocol == Protocol::kHttp || out->protocol == Protocol::kHttps;
  bool is_public = out->exposure == Exposure::kPublic;
  if (const YamlNode* n = f.Get("host")) {
    Located<std::string> host;
    if (GetString(sink, *n, f.Path("host"), &host)) {
      if (!web || !is_public) {
        sink.Error(host.pos, f.Path("host"), "applies to public http and https listeners only");
      } else if (CheckName(sink, host, f.Path("host"), CheckHost)) {
        out->host = host.value;
      }
    }
  }
  const YamlNode* certificate = f.Get("certificate");
  if (certificate != nullptr) {
    Located<std::string> secret;
    if (GetString(sink, *certificate, f.Path("certificate"), &secret)) {
      if (out->protocol != Protocol::kHttps || !is_public) {
        sink.Error(secret.pos, f.Path("certificate"), "applies to public https listeners only");
      } else if (CheckName(sink, secret, f.Path("certificate"), CheckDns1123Subdomain)) {
        out->certificate = secret.value;
      }
    }
  } else if (out->protocol == Protocol::kHttps && is_public) {
    sink.Error(node.pos, f.Path("certificate"),
               "public https needs a certificate: the name of a TLS Secret in the app's namespace");
  }
  f.Finish();
}

void ParseGate(Sink& sink, const YamlNode& node, const std::string& path, policy::Gate* out) {
  Fields f(sink, node, path);
  out->line = node.pos.line;
  out->column = node.pos.column;
  Located<std::string> value;
  if (const YamlNode* n = f.Need("name")) {
    if (GetString(sink, *n, f.Path("name"), &value) &&
        CheckName(sink, value, f.Path("name"), CheckDns1123Label)) {
      out->name = value.value;
    }
  }
  const YamlNode* prometheus = f.Get("prometheus");
  const YamlNode* webhook = f.Get("webhook");
  if ((prometheus == nullptr) == (webhook == nullptr)) {
    sink.Error(node.pos, path,
               "a gate is either prometheus: {query, successCondition} or webhook: NAME");
  }
  if (prometheus != nullptr) {
    out->kind = policy::GateKind::kPrometheus;
    Fields p(sink, *prometheus, f.Path("prometheus"));
    if (const YamlNode* n = p.Need("query")) {
      if (GetString(sink, *n, p.Path("query"), &value)) {
        out->query = value.value;
        if (Status st = policy::CheckQuery(value.value); !st.ok()) {
          sink.Error(value.pos, p.Path("query"), st.message());
        }
      }
    }
    if (const YamlNode* n = p.Need("successCondition", "result[0] >= 0.99")) {
      if (GetString(sink, *n, p.Path("successCondition"), &value)) {
        auto condition = policy::ParseCondition(value.value);
        if (condition.ok()) {
          out->condition = *condition;
        } else {
          sink.Error(value.pos, p.Path("successCondition"), condition.status().message());
        }
      }
    }
    p.Finish();
  }
  if (webhook != nullptr) {
    out->kind = policy::GateKind::kWebhook;
    if (GetString(sink, *webhook, f.Path("webhook"), &value)) out->webhook = value.value;
  }
  if (const YamlNode* n = f.Get("interval")) {
    if (GetDuration(sink, *n, f.Path("interval"), false, &out->interval_ms) &&
        (out->interval_ms < 1000 || out->interval_ms > 3'600'000)) {
      sink.Error(n->pos, f.Path("interval"), "must be from 1s to 1h");
    }
  }
  if (const YamlNode* n = f.Get("initialDelay")) {
    if (GetDuration(sink, *n, f.Path("initialDelay"), false, &out->initial_delay_ms) &&
        out->initial_delay_ms > 3'600'000) {
      sink.Error(n->pos, f.Path("initialDelay"), "must be at most 1h");
    }
  }
  Located<int64_t> number;
  if (const YamlNode* n = f.Get("count")) {
    if (GetInt(sink, *n, f.Path("count"), 1, 100, &number))
      out->count = static_cast<int>(number.value);
  }
  if (const YamlNode* n = f.Get("failureLimit")) {
    if (GetInt(sink, *n, f.Path("failureLimit"), 0, 100, &number)) {
      out->failure_limit = static_cast<int>(number.value);
    }
  }
  f.Finish();
}

void ParseGates(Sink& sink, const YamlNode& node, const std::string& path,
                std::vector<policy::Gate>* out) {
  if (!node.IsSequence()) {
    sink.Error(node.pos, path, "expected a list of gates, found " + std::string(node.KindName()));
    return;
  }
  std::map<std::string, int> seen;
  for (size_t i = 0; i < node.items.size(); ++i) {
    const std::string item = path + "[" + std::to_string(i) + "]";
    policy::Gate gate;
    ParseGate(sink, node.items[i], item, &gate);
    if (!gate.name.empty() && !seen.emplace(gate.name, node.items[i].pos.line).second) {
      sink.Error(node.items[i].pos, item + ".name",
                 "gate \"" + gate.name + "\" is already defined at line " +
                     std::to_string(seen[gate.name]));
    }
    out->push_back(std::move(gate));
  }
}

void ParseRelease(Sink& sink, const YamlNode& node, const std::string& path, ReleasePolicy* out,
                  Located<int64_t>* batches) {
  Fields f(sink, node, path);
  if (const YamlNode* n = f.Get("batches")) {
    GetInt(sink, *n, f.Path("batches"), 1, 10000, batches);
  }
  out->batches = static_cast<int>(batches->value);
  int choice = 0;
  if (const YamlNode* n = f.Get("pause")) {
    if (GetChoice(sink, *n, f.Path("pause"), {"none", "first", "every"}, &choice)) {
      out->pause = static_cast<Pause>(choice);
    }
  }
  if (const YamlNode* n = f.Get("batchInterval")) {
    GetDuration(sink, *n, f.Path("batchInterval"), false, &out->batch_interval_ms);
  }
  if (const YamlNode* n = f.Get("batchTimeout")) {
    if (GetDuration(sink, *n, f.Path("batchTimeout"), false, &out->batch_timeout_ms) &&
        out->batch_timeout_ms == 0) {
      sink.Error(n->pos, f.Path("batchTimeout"), "must be longer than 0");
    }
  }
  if (const YamlNode* n = f.Get("onFailure")) {
    if (GetChoice(sink, *n, f.Path("onFailure"), {"rollback", "halt"}, &choice)) {
      out->on_failure = static_cast<OnFailure>(choice);
    }
  }
  if (const YamlNode* n = f.Get("gates")) ParseGates(sink, *n, f.Path("gates"), &out->gates);
  if (const YamlNode* n = f.Get("keepRevisions")) {
    Located<int64_t> keep;
    if (GetInt(sink, *n, f.Path("keepRevisions"), 0, 100, &keep)) {
      out->keep_revisions = static_cast<int>(keep.value);
    }
  }
  f.Finish();
}

void ParsePromotion(Sink& sink, const YamlNode& node, Promotion* out) {
  Fields f(sink, node, "spec.promotion");
  out->pos = node.pos;
  if (const YamlNode* n = f.Need("after")) {
    if (GetString(sink, *n, "spec.promotion.after", &out->after)) {
      CheckName(sink, out->after, "spec.promotion.after", CheckDns1035Label);
    }
  }
  if (const YamlNode* n = f.Get("soak")) {
    constexpr int64_t kMaxSoakMs = 30LL * 24 * 3600 * 1000;
    if (GetDuration(sink, *n, "spec.promotion.soak", false, &out->soak_ms) &&
        out->soak_ms > kMaxSoakMs) {
      sink.Error(n->pos, "spec.promotion.soak", "must be at most 30 days (720h)");
    }
  }
  f.Finish();
}

}  // namespace

const YamlNode* ReadEnvelope(const YamlNode& doc, Sink& sink, std::string_view kind,
                             bool spec_required, Located<std::string>* name,
                             std::string (*check_name)(std::string_view)) {
  Fields f(sink, doc, "");
  if (!f.ok()) return nullptr;
  Located<std::string> value;
  if (const YamlNode* n = f.Need("apiVersion", "pagoda.dev/v1")) {
    if (GetJsonString(sink, *n, "apiVersion", &value) && value.value != "pagoda.dev/v1") {
      sink.Error(value.pos, "apiVersion", Quote(value.value) + " is not pagoda.dev/v1");
    }
  }
  if (const YamlNode* n = f.Need("kind", std::string(kind))) {
    if (GetJsonString(sink, *n, "kind", &value) && value.value != kind) {
      sink.Error(value.pos, "kind",
                 "this file must hold kind " + std::string(kind) + ", not " + Quote(value.value));
    }
  }
  if (const YamlNode* n = f.Need("metadata")) {
    Fields metadata(sink, *n, "metadata");
    if (const YamlNode* v = metadata.Need("name")) {
      if (GetString(sink, *v, "metadata.name", name)) {
        CheckName(sink, *name, "metadata.name", check_name);
      }
    }
    metadata.Finish();
  }
  const YamlNode* spec = spec_required ? f.Need("spec") : f.Get("spec");
  f.Finish();
  return spec;
}

bool ParseApp(const YamlNode& doc, Sink& sink, App* out) {
  int errors = sink.errors();
  out->file = sink.file();
  out->name.pos = doc.pos;
  const YamlNode* spec = ReadEnvelope(doc, sink, "App", false, &out->name, CheckDns1123Label);
  if (spec != nullptr) {
    Fields f(sink, *spec, "spec");
    if (const YamlNode* n = f.Get("description")) {
      Located<std::string> description;
      if (GetString(sink, *n, "spec.description", &description)) {
        out->description = description.value;
      }
    }
    if (const YamlNode* n = f.Get("owners")) GetStringList(sink, *n, "spec.owners", &out->owners);
    f.Finish();
  }
  return sink.errors() == errors;
}

bool ParseEnvironment(const YamlNode& doc, Sink& sink, Environment* out) {
  int errors = sink.errors();
  out->file = sink.file();
  out->name.pos = doc.pos;
  const YamlNode* spec =
      ReadEnvelope(doc, sink, "Environment", true, &out->name, CheckDns1035Label);
  if (spec == nullptr) return false;
  Fields f(sink, *spec, "spec");
  if (const YamlNode* n = f.Need("cluster")) {
    if (GetString(sink, *n, "spec.cluster", &out->cluster)) {
      CheckName(sink, out->cluster, "spec.cluster", CheckDns1123Label);
    }
  }
  if (const YamlNode* n = f.Need("deployConfig")) {
    GetString(sink, *n, "spec.deployConfig", &out->deploy_config);
  }
  bool have_replicas = false;
  if (const YamlNode* n = f.Need("replicas")) {
    have_replicas = GetInt(sink, *n, "spec.replicas", 0, 10000, &out->replicas);
  }
  Located<int64_t> batches{1, {}};
  if (const YamlNode* n = f.Get("release")) {
    ParseRelease(sink, *n, "spec.release", &out->release, &batches);
  }
  if (have_replicas && out->replicas.value > 0 && batches.value > out->replicas.value) {
    sink.Error(batches.pos, "spec.release.batches",
               std::to_string(batches.value) + " is more than replicas (" +
                   std::to_string(out->replicas.value) + ")");
  }
  if (const YamlNode* n = f.Get("sync")) {
    Fields sync(sink, *n, "spec.sync");
    if (const YamlNode* v = sync.Get("auto"))
      GetBool(sink, *v, "spec.sync.auto", &out->sync.automatic);
    if (const YamlNode* v = sync.Get("selfHeal")) {
      GetBool(sink, *v, "spec.sync.selfHeal", &out->sync.self_heal);
    }
    if (const YamlNode* v = sync.Get("prune"))
      GetBool(sink, *v, "spec.sync.prune", &out->sync.prune);
    sync.Finish();
  }
  if (const YamlNode* n = f.Get("adopt")) GetBool(sink, *n, "spec.adopt", &out->adopt);
  if (const YamlNode* n = f.Get("promotion")) ParsePromotion(sink, *n, &out->promotion);
  if (const YamlNode* n = f.Get("traffic")) {
    if (!n->IsSequence()) {
      sink.Error(n->pos, "spec.traffic",
                 "expected a list of listeners, found " + std::string(n->KindName()));
    } else {
      for (size_t i = 0; i < n->items.size(); ++i) {
        Listener listener;
        ParseListener(sink, n->items[i], "spec.traffic[" + std::to_string(i) + "]", &listener);
        out->traffic.push_back(std::move(listener));
      }
    }
  }
  f.Finish();
  return sink.errors() == errors;
}

namespace {

// Labels and annotations of a plain manifest: a mapping of strings (label
// values also in Kubernetes' label syntax).
void CheckStringMap(Sink& sink, const YamlNode* map, const std::string& path, bool labels) {
  if (map == nullptr) return;
  if (!map->IsMap()) {
    sink.Error(map->pos, path, "expected a mapping, found " + std::string(map->KindName()));
    return;
  }
  for (const YamlEntry& e : map->entries) {
    Located<std::string> value;
    if (!GetJsonString(sink, e.value, path + "." + e.key, &value) || !labels) continue;
    std::string message = CheckLabelValue(value.value);
    if (!message.empty()) sink.Error(value.pos, path + "." + e.key, message);
  }
}

}  // namespace

bool ParseManifest(const YamlNode& doc, std::string_view app, PodSecurityLevel level, Sink& sink,
                   PlainManifest* out) {
  int errors = sink.errors();
  out->file = sink.file();
  out->pos = doc.pos;
  if (!doc.IsMap()) {
    sink.Error(doc.pos, "", "a manifest must be a mapping, found " + std::string(doc.KindName()));
    return false;
  }
  auto find = [](const YamlNode& map, std::string_view key) -> const YamlNode* {
    for (const YamlEntry& e : map.entries) {
      if (e.key == key) return e.value.IsNull() ? nullptr : &e.value;
    }
    return nullptr;
  };
  Located<std::string> value;
  const YamlNode* n = find(doc, "apiVersion");
  if (n == nullptr) {
    sink.Error(doc.pos, "apiVersion", "is required");
  } else if (GetJsonString(sink, *n, "apiVersion", &value)) {
    out->api_version = value.value;
  }
  n = find(doc, "kind");
  if (n == nullptr) {
    sink.Error(doc.pos, "kind", "is required");
  } else if (GetJsonString(sink, *n, "kind", &value)) {
    out->kind = value.value;
    if (out->kind == "List" || out->kind.ends_with("List")) {
      sink.Error(value.pos, "kind", "a list is not supported here; write each item as a document");
    } else if (ClusterScopedKinds().contains(out->kind)) {
      sink.Error(value.pos, "kind",
                 out->kind +
                     " is cluster-scoped; an app's manifests must be namespaced objects "
                     "in its own namespace");
    }
  }
  const YamlNode* metadata = find(doc, "metadata");
  if (metadata == nullptr) {
    sink.Error(doc.pos, "metadata.name", "is required");
  } else if (!metadata->IsMap()) {
    sink.Error(metadata->pos, "metadata",
               "expected a mapping, found " + std::string(metadata->KindName()));
  } else {
    n = find(*metadata, "name");
    if (n == nullptr) {
      sink.Error(metadata->pos, "metadata.name", "is required");
    } else if (GetJsonString(sink, *n, "metadata.name", &value) &&
               CheckName(sink, value, "metadata.name", CheckDns1123Subdomain)) {
      out->name = value.value;
    }
    n = find(*metadata, "namespace");
    if (n != nullptr && GetJsonString(sink, *n, "metadata.namespace", &value) &&
        value.value != app) {
      sink.Error(value.pos, "metadata.namespace",
                 Quote(value.value) + " is not the app's namespace (" + std::string(app) +
                     "); leave it out: pagoda puts every manifest in the app's namespace");
    }
    CheckStringMap(sink, find(*metadata, "labels"), "metadata.labels", true);
    CheckStringMap(sink, find(*metadata, "annotations"), "metadata.annotations", false);
  }
  const std::string group = GroupOf(out->api_version);
  CheckPodSecurity(doc, group, out->kind, app, level, sink);
  out->service_accounts = ServiceAccountsUsed(doc, group, out->kind);
  if (out->kind == "Service" && group.empty()) CheckExternalIps(doc, sink);
  rapidjson::Document json;
  rapidjson::Value value_json = YamlToJson(doc, json.GetAllocator());
  out->json = CanonicalJson(value_json);
  return sink.errors() == errors;
}

}  // namespace pagoda::manifest

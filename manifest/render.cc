// Rendering: a valid AppModel into Kubernetes objects.
//
// Revisions: the pod template is rendered without its revision label, written
// as canonical JSON and hashed; the first 10 hex digits of its SHA-256 are the
// revision, which then goes into the template's labels, the Deployment's name
// and its selector. The template holds the files ConfigMap's name, whose hash
// covers the files, so a changed file is a new revision. Nothing that varies
// between commits (the commit itself) is ever inside the template.
//
// Deployments: each revision has its own Deployment, whose template never
// changes, so ReplicaSet history is useless (revisionHistoryLimit 0). The
// strategy only matters if someone edits the template by hand; RollingUpdate
// with maxSurge 0 keeps even that within the environment's replica count.
#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "manifest/json.h"
#include "manifest/manifest.h"

namespace pagoda::manifest {
namespace {

using rapidjson::Value;

constexpr char kNameLabel[] = "app.kubernetes.io/name";
constexpr char kInstanceLabel[] = "app.kubernetes.io/instance";
constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
constexpr char kRevisionLabel[] = "pagoda.dev/revision";
constexpr char kCommitAnnotation[] = "pagoda.dev/commit";

class Json {
 public:
  Json() : alloc_(doc_.GetAllocator()) {}

  Value Str(std::string_view s) {
    return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc_);
  }
  static Value Obj() { return Value(rapidjson::kObjectType); }
  static Value Arr() { return Value(rapidjson::kArrayType); }

  Value& Set(Value& obj, std::string_view key, Value v) {
    obj.AddMember(Str(key), v, alloc_);
    return (obj.MemberEnd() - 1)->value;
  }
  void SetStr(Value& obj, std::string_view key, std::string_view s) { Set(obj, key, Str(s)); }
  void SetInt(Value& obj, std::string_view key, int64_t i) { Set(obj, key, Value(i)); }
  void SetBool(Value& obj, std::string_view key, bool b) { Set(obj, key, Value(b)); }
  void Push(Value& arr, Value v) { arr.PushBack(v, alloc_); }
  Value Strings(const std::vector<std::string>& list) {
    Value arr = Arr();
    for (const std::string& s : list) Push(arr, Str(s));
    return arr;
  }
  Value Map(const std::vector<std::pair<std::string, std::string>>& pairs) {
    Value obj = Obj();
    for (const auto& [k, v] : pairs) SetStr(obj, k, v);
    return obj;
  }
  Value Copy(const Value& v) { return Value(v, alloc_); }
  rapidjson::Document::AllocatorType& alloc() { return alloc_; }

 private:
  rapidjson::Document doc_;
  rapidjson::Document::AllocatorType& alloc_;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Context {
  const AppModel& app;
  const RenderOptions& options;
};

Labels AppLabels(const Context& c) {
  return {{kNameLabel, c.app.name}, {kManagedByLabel, "pagoda"}};
}
Labels EnvLabels(const Context& c, const std::string& env) {
  Labels labels = AppLabels(c);
  labels.emplace_back(kInstanceLabel, env);
  return labels;
}

Value Metadata(Json& j, const Context& c, std::string_view name, std::string_view ns,
               const Labels& labels) {
  Value meta = Json::Obj();
  j.SetStr(meta, "name", name);
  if (!ns.empty()) j.SetStr(meta, "namespace", ns);
  j.Set(meta, "labels", j.Map(labels));
  if (!c.options.commit.empty()) {
    j.Set(meta, "annotations", j.Map({{kCommitAnnotation, c.options.commit}}));
  }
  return meta;
}

Object Finish(const Value& value) {
  Object o;
  o.api_version = value["apiVersion"].GetString();
  o.kind = value["kind"].GetString();
  const Value& meta = value["metadata"];
  o.name = meta["name"].GetString();
  if (meta.HasMember("namespace")) o.namespace_name = meta["namespace"].GetString();
  o.json = CanonicalJson(value);
  return o;
}

Value Start(Json& j, std::string_view api_version, std::string_view kind) {
  Value v = Json::Obj();
  j.SetStr(v, "apiVersion", api_version);
  j.SetStr(v, "kind", kind);
  return v;
}

Value Probe(Json& j, const Health& h) {
  Value probe = Json::Obj();
  Value action = Json::Obj();
  switch (h.kind) {
    case ProbeKind::kHttp:
      j.SetStr(action, "path", h.http_path);
      j.SetInt(action, "port", h.port);
      j.Set(probe, "httpGet", std::move(action));
      break;
    case ProbeKind::kTcp:
      j.SetInt(action, "port", h.port);
      j.Set(probe, "tcpSocket", std::move(action));
      break;
    case ProbeKind::kExec:
      j.Set(action, "command", j.Strings(h.exec_command));
      j.Set(probe, "exec", std::move(action));
      break;
  }
  j.SetInt(probe, "initialDelaySeconds", h.initial_delay_ms / 1000);
  j.SetInt(probe, "periodSeconds", h.period_ms / 1000);
  j.SetInt(probe, "timeoutSeconds", h.timeout_ms / 1000);
  j.SetInt(probe, "failureThreshold", h.failure_threshold);
  return probe;
}

const char* Transport(Protocol p) { return p == Protocol::kUdp ? "UDP" : "TCP"; }

Value PodSpec(Json& j, const Context& c, const Environment& env, const DeployConfig& config,
              const std::string& files_configmap) {
  Value container = Json::Obj();
  j.SetStr(container, "name", config.name.value);
  j.SetStr(container, "image", config.image.value);
  if (!config.command.empty()) j.Set(container, "command", j.Strings(config.command));
  if (!config.args.empty()) j.Set(container, "args", j.Strings(config.args));
  if (!config.env.empty()) {
    Value vars = Json::Arr();
    for (const EnvVar& e : config.env) {
      Value var = Json::Obj();
      j.SetStr(var, "name", e.name.value);
      if (e.secret.empty()) {
        j.SetStr(var, "value", e.value);
      } else {
        Value ref = Json::Obj();
        j.SetStr(ref, "name", e.secret);
        j.SetStr(ref, "key", e.secret_key);
        Value from = Json::Obj();
        j.Set(from, "secretKeyRef", std::move(ref));
        j.Set(var, "valueFrom", std::move(from));
      }
      j.Push(vars, std::move(var));
    }
    j.Set(container, "env", std::move(vars));
  }
  if (!config.ports.empty()) {
    Value ports = Json::Arr();
    for (const ContainerPort& p : config.ports) {
      Value port = Json::Obj();
      j.SetStr(port, "name", p.name.value);
      j.SetInt(port, "containerPort", p.port.value);
      j.SetStr(port, "protocol", Transport(p.protocol));
      j.Push(ports, std::move(port));
    }
    j.Set(container, "ports", std::move(ports));
  }
  if (config.millicpu.value > 0 || config.memory_bytes.value > 0) {
    Value amounts = Json::Obj();
    if (config.millicpu.value > 0) j.SetStr(amounts, "cpu", FormatCpu(config.millicpu.value));
    if (config.memory_bytes.value > 0) {
      j.SetStr(amounts, "memory", FormatMemory(config.memory_bytes.value));
    }
    Value resources = Json::Obj();
    j.Set(resources, "requests", j.Copy(amounts));
    j.Set(resources, "limits", std::move(amounts));
    j.Set(container, "resources", std::move(resources));
  }
  if (config.health) {
    j.Set(container, "readinessProbe", Probe(j, *config.health));
    j.Set(container, "livenessProbe", Probe(j, *config.health));
  }
  if (config.shutdown.pre_stop_sleep_ms > 0) {
    Value sleep = Json::Obj();
    j.SetInt(sleep, "seconds", config.shutdown.pre_stop_sleep_ms / 1000);
    Value pre_stop = Json::Obj();
    j.Set(pre_stop, "sleep", std::move(sleep));
    Value lifecycle = Json::Obj();
    j.Set(lifecycle, "preStop", std::move(pre_stop));
    j.Set(container, "lifecycle", std::move(lifecycle));
  }
  Value volumes = Json::Arr();
  Value mounts = Json::Arr();
  if (!files_configmap.empty()) {
    Value volume = Json::Obj();
    j.SetStr(volume, "name", "files");
    Value source = Json::Obj();
    j.SetStr(source, "name", files_configmap);
    j.Set(volume, "configMap", std::move(source));
    j.Push(volumes, std::move(volume));
    for (const ConfigFile& f : config.files) {
      Value mount = Json::Obj();
      j.SetStr(mount, "name", "files");
      j.SetStr(mount, "mountPath", f.path.value);
      j.SetStr(mount, "subPath", f.key);
      j.SetBool(mount, "readOnly", true);
      j.Push(mounts, std::move(mount));
    }
  }
  for (size_t i = 0; i < config.mounts.size(); ++i) {
    const Mount& m = config.mounts[i];
    std::string name = "mount-" + std::to_string(i);
    Value volume = Json::Obj();
    j.SetStr(volume, "name", name);
    Value source = Json::Obj();
    switch (m.type) {
      case MountType::kEmptyDir:
        if (m.size_limit_bytes > 0) j.SetStr(source, "sizeLimit", FormatMemory(m.size_limit_bytes));
        if (m.memory_medium) j.SetStr(source, "medium", "Memory");
        j.Set(volume, "emptyDir", std::move(source));
        break;
      case MountType::kSecret:
        j.SetStr(source, "secretName", m.source);
        j.Set(volume, "secret", std::move(source));
        break;
      case MountType::kConfigMap:
        j.SetStr(source, "name", m.source);
        j.Set(volume, "configMap", std::move(source));
        break;
    }
    j.Push(volumes, std::move(volume));
    Value mount = Json::Obj();
    j.SetStr(mount, "name", name);
    j.SetStr(mount, "mountPath", m.path.value);
    if (m.type != MountType::kEmptyDir) j.SetBool(mount, "readOnly", true);
    j.Push(mounts, std::move(mount));
  }
  if (!mounts.Empty()) j.Set(container, "volumeMounts", std::move(mounts));

  Value spec = Json::Obj();
  Value containers = Json::Arr();
  j.Push(containers, std::move(container));
  j.Set(spec, "containers", std::move(containers));
  if (!volumes.Empty()) j.Set(spec, "volumes", std::move(volumes));
  j.SetInt(spec, "terminationGracePeriodSeconds", config.shutdown.grace_period_ms / 1000);
  bool affinity = std::any_of(env.traffic.begin(), env.traffic.end(),
                              [](const Listener& l) { return l.session_affinity; });
  if (affinity) {
    // Session stickiness breaks when two instances share a node: prefer spreading.
    Value selector = Json::Obj();
    j.Set(selector, "matchLabels", j.Map(EnvLabels(c, env.name.value)));
    Value term = Json::Obj();
    j.Set(term, "labelSelector", std::move(selector));
    j.SetStr(term, "topologyKey", "kubernetes.io/hostname");
    Value weighted = Json::Obj();
    j.SetInt(weighted, "weight", 100);
    j.Set(weighted, "podAffinityTerm", std::move(term));
    Value preferred = Json::Arr();
    j.Push(preferred, std::move(weighted));
    Value anti = Json::Obj();
    j.Set(anti, "preferredDuringSchedulingIgnoredDuringExecution", std::move(preferred));
    Value aff = Json::Obj();
    j.Set(aff, "podAntiAffinity", std::move(anti));
    j.Set(spec, "affinity", std::move(aff));
  }
  return spec;
}

Value ServicePorts(Json& j, const std::vector<const Listener*>& listeners) {
  Value ports = Json::Arr();
  for (const Listener* l : listeners) {
    Value port = Json::Obj();
    j.SetStr(port, "name", l->name.value);
    j.SetInt(port, "port", l->port.value);
    j.SetInt(port, "targetPort", l->target_port.value);
    j.SetStr(port, "protocol", Transport(l->protocol));
    j.Push(ports, std::move(port));
  }
  return ports;
}

Object Service(const Context& c, const Environment& env, const std::string& name, const char* type,
               const std::vector<const Listener*>& listeners) {
  Json j;
  Value svc = Start(j, "v1", "Service");
  j.Set(svc, "metadata", Metadata(j, c, name, c.app.name, EnvLabels(c, env.name.value)));
  Value spec = Json::Obj();
  j.SetStr(spec, "type", type);
  j.Set(spec, "selector", j.Map(EnvLabels(c, env.name.value)));
  j.Set(spec, "ports", ServicePorts(j, listeners));
  bool sticky = std::any_of(listeners.begin(), listeners.end(),
                            [](const Listener* l) { return l->session_affinity; });
  j.SetStr(spec, "sessionAffinity", sticky ? "ClientIP" : "None");
  j.Set(svc, "spec", std::move(spec));
  return Finish(svc);
}

Object Ingress(const Context& c, const Environment& env,
               const std::vector<const Listener*>& listeners) {
  Json j;
  Value ing = Start(j, "networking.k8s.io/v1", "Ingress");
  Value meta = Metadata(j, c, env.name.value, c.app.name, EnvLabels(c, env.name.value));
  bool sticky = std::any_of(listeners.begin(), listeners.end(),
                            [](const Listener* l) { return l->session_affinity; });
  if (sticky) {
    // Controllers spell stickiness in their own annotations; ingress-nginx's is the common one.
    if (!meta.HasMember("annotations")) j.Set(meta, "annotations", Json::Obj());
    j.SetStr(meta["annotations"], "nginx.ingress.kubernetes.io/affinity", "cookie");
  }
  j.Set(ing, "metadata", std::move(meta));
  Value rules = Json::Arr();
  Value tls = Json::Arr();
  std::set<std::string> hosts;
  for (const Listener* l : listeners) {
    if (l->protocol == Protocol::kHttps) {
      Value entry = Json::Obj();
      if (!l->host.empty()) {
        Value list = Json::Arr();
        j.Push(list, j.Str(l->host));
        j.Set(entry, "hosts", std::move(list));
      }
      j.SetStr(entry, "secretName", l->certificate);
      j.Push(tls, std::move(entry));
    }
    if (!hosts.insert(l->host).second) continue;  // one rule per host: the first listener's
    Value port = Json::Obj();
    j.SetInt(port, "number", l->port.value);
    Value service = Json::Obj();
    j.SetStr(service, "name", env.name.value);
    j.Set(service, "port", std::move(port));
    Value backend = Json::Obj();
    j.Set(backend, "service", std::move(service));
    Value path = Json::Obj();
    j.SetStr(path, "path", "/");
    j.SetStr(path, "pathType", "Prefix");
    j.Set(path, "backend", std::move(backend));
    Value paths = Json::Arr();
    j.Push(paths, std::move(path));
    Value http = Json::Obj();
    j.Set(http, "paths", std::move(paths));
    Value rule = Json::Obj();
    if (!l->host.empty()) j.SetStr(rule, "host", l->host);
    j.Set(rule, "http", std::move(http));
    j.Push(rules, std::move(rule));
  }
  Value spec = Json::Obj();
  j.Set(spec, "rules", std::move(rules));
  if (!tls.Empty()) j.Set(spec, "tls", std::move(tls));
  j.Set(ing, "spec", std::move(spec));
  return Finish(ing);
}

RenderedEnvironment RenderEnvironment(const Context& c, const Environment& env,
                                      const DeployConfig& config) {
  RenderedEnvironment out;
  out.env = env.name.value;
  out.cluster = env.cluster.value;
  out.replicas = env.replicas.value;
  out.release = env.release;
  out.sync = env.sync;
  out.adopt = env.adopt;
  const std::string& app = c.app.name;

  std::string files_configmap;
  if (!config.files.empty()) {
    Json j;
    Value data = Json::Obj();
    for (const ConfigFile& f : config.files) j.SetStr(data, f.key, f.content);
    out.files_hash = Sha256Hex(CanonicalJson(data), 10);
    files_configmap = out.env + "-files-" + out.files_hash;
    Value cm = Start(j, "v1", "ConfigMap");
    j.Set(cm, "metadata", Metadata(j, c, files_configmap, app, EnvLabels(c, out.env)));
    j.Set(cm, "data", std::move(data));
    j.SetBool(cm, "immutable", true);
    out.objects.push_back(Finish(cm));
  }

  {
    Json j;
    Value template_meta = Json::Obj();
    j.Set(template_meta, "labels", j.Map(EnvLabels(c, out.env)));
    Value pod = Json::Obj();
    j.Set(pod, "metadata", std::move(template_meta));
    j.Set(pod, "spec", PodSpec(j, c, env, config, files_configmap));
    out.revision = Sha256Hex(CanonicalJson(pod), 10);
    const std::string neutral_files = out.files_hash.empty() ? "" : "files-" + out.files_hash;
    out.artifact =
        Sha256Hex(CanonicalJson(PodSpec(j, c, Environment{}, config, neutral_files)), 10);
    j.SetStr(pod["metadata"]["labels"], kRevisionLabel, out.revision);

    Labels labels = EnvLabels(c, out.env);
    labels.emplace_back(kRevisionLabel, out.revision);
    Value deploy = Start(j, "apps/v1", "Deployment");
    j.Set(deploy, "metadata", Metadata(j, c, out.env + "-" + out.revision, app, labels));
    Value spec = Json::Obj();
    j.SetInt(spec, "replicas", out.replicas);
    j.SetInt(spec, "revisionHistoryLimit", 0);
    Value selector = Json::Obj();
    j.Set(selector, "matchLabels", j.Map(labels));
    j.Set(spec, "selector", std::move(selector));
    Value rolling = Json::Obj();
    j.SetInt(rolling, "maxSurge", 0);
    j.SetInt(rolling, "maxUnavailable", 1);
    Value strategy = Json::Obj();
    j.SetStr(strategy, "type", "RollingUpdate");
    j.Set(strategy, "rollingUpdate", std::move(rolling));
    j.Set(spec, "strategy", std::move(strategy));
    j.Set(spec, "template", std::move(pod));
    j.Set(deploy, "spec", std::move(spec));
    out.objects.push_back(Finish(deploy));
  }

  std::vector<const Listener*> all, balanced, web;
  for (const Listener& l : env.traffic) {
    all.push_back(&l);
    if (l.exposure != Exposure::kPublic) continue;
    bool is_web = l.protocol == Protocol::kHttp || l.protocol == Protocol::kHttps;
    (is_web ? web : balanced).push_back(&l);
  }
  if (!all.empty()) out.objects.push_back(Service(c, env, out.env, "ClusterIP", all));
  if (!balanced.empty()) {
    out.objects.push_back(Service(c, env, out.env + "-public", "LoadBalancer", balanced));
  }
  if (!web.empty()) out.objects.push_back(Ingress(c, env, web));
  std::sort(out.objects.begin(), out.objects.end(), ObjectOrder);
  return out;
}

Result<Object> RenderManifest(const Context& c, const PlainManifest& m) {
  rapidjson::Document doc;
  doc.Parse(m.json.data(), m.json.size());
  auto is_string = [](const Value& v, const char* key) {
    return v.HasMember(key) && v[key].IsString();
  };
  if (doc.HasParseError() || !doc.IsObject() || !is_string(doc, "apiVersion") ||
      !is_string(doc, "kind") || !doc.HasMember("metadata") || !doc["metadata"].IsObject() ||
      !is_string(doc["metadata"], "name")) {
    return Status::InvalidArgument(m.file + ": the manifest is not a valid object");
  }
  auto& alloc = doc.GetAllocator();
  Value& meta = doc["metadata"];
  meta.RemoveMember("namespace");
  meta.AddMember("namespace", Value(c.app.name.c_str(), alloc), alloc);
  if (!meta.HasMember("labels") || !meta["labels"].IsObject()) {
    meta.RemoveMember("labels");
    meta.AddMember("labels", Value(rapidjson::kObjectType), alloc);
  }
  Value& labels = meta["labels"];
  for (const auto& [k, v] : AppLabels(c)) {
    labels.RemoveMember(k.c_str());
    labels.AddMember(Value(k.c_str(), alloc), Value(v.c_str(), alloc), alloc);
  }
  if (!c.options.commit.empty()) {
    if (!meta.HasMember("annotations") || !meta["annotations"].IsObject()) {
      meta.RemoveMember("annotations");
      meta.AddMember("annotations", Value(rapidjson::kObjectType), alloc);
    }
    Value& annotations = meta["annotations"];
    annotations.RemoveMember(kCommitAnnotation);
    annotations.AddMember(Value(kCommitAnnotation, alloc), Value(c.options.commit.c_str(), alloc),
                          alloc);
  }
  return Finish(doc);
}

int KindRank(const std::string& kind) {
  static const char* const kOrder[] = {"Namespace", "ConfigMap", "Service", "Deployment",
                                       "Ingress"};
  for (int i = 0; i < 5; ++i) {
    if (kind == kOrder[i]) return i;
  }
  return 5;
}

}  // namespace

bool ObjectOrder(const Object& a, const Object& b) {
  int ra = KindRank(a.kind), rb = KindRank(b.kind);
  return std::tie(ra, a.kind, a.namespace_name, a.name, a.api_version) <
         std::tie(rb, b.kind, b.namespace_name, b.name, b.api_version);
}

std::string Object::Key() const {
  return kind + "/" + (namespace_name.empty() ? "" : namespace_name + "/") + name;
}

Result<RenderedApp> RenderApp(const AppModel& app, const RenderOptions& options) {
  Context c{app, options};
  RenderedApp out;
  out.app = app.name;
  std::set<std::string> clusters;
  for (const Environment& env : app.environments) {
    const DeployConfig* config = app.FindDeployConfig(env.deploy_config.value);
    if (config == nullptr || env.cluster.value.empty() || env.name.value.empty()) {
      return Status::InvalidArgument("app " + app.name + ", environment " + env.name.value +
                                     ": not valid; validate before rendering");
    }
    clusters.insert(env.cluster.value);
    out.environments.push_back(RenderEnvironment(c, env, *config));
  }
  std::sort(out.environments.begin(), out.environments.end(),
            [](const auto& a, const auto& b) { return a.env < b.env; });

  std::vector<Object> shared;
  {
    Json j;
    Value ns = Start(j, "v1", "Namespace");
    // The API server's own Pod Security admission enforces the app's level,
    // for pods no check of pagoda's sees (those a custom kind's controller makes).
    Labels labels = AppLabels(c);
    const std::string level(PodSecurityLevelName(app.pod_security));
    labels.emplace_back("pod-security.kubernetes.io/enforce", level);
    labels.emplace_back("pod-security.kubernetes.io/warn", level);
    j.Set(ns, "metadata", Metadata(j, c, app.name, "", labels));
    shared.push_back(Finish(ns));
  }
  for (const PlainManifest& m : app.manifests) {
    Result<Object> object = RenderManifest(c, m);
    if (!object.ok()) return object.status();
    object->source = FilePos(m.file, m.pos);
    shared.push_back(std::move(object.value()));
  }
  std::sort(shared.begin(), shared.end(), ObjectOrder);
  for (const std::string& cluster : clusters) out.clusters.push_back({cluster, shared});
  return out;
}

std::vector<Object> RenderedApp::AllObjects() const {
  std::vector<Object> all;
  for (const RenderedCluster& cluster : clusters) {
    all.insert(all.end(), cluster.objects.begin(), cluster.objects.end());
    for (const RenderedEnvironment& env : environments) {
      if (env.cluster != cluster.cluster) continue;
      all.insert(all.end(), env.objects.begin(), env.objects.end());
    }
  }
  return all;
}

std::string ToYaml(const std::vector<Object>& objects) {
  std::string out;
  for (const Object& o : objects) {
    Result<std::string> yaml = JsonToYaml(o.json);
    out += "---\n";
    out += yaml.ok() ? *yaml : "# " + yaml.status().message() + "\n";
  }
  return out;
}

std::string ToJsonList(const std::vector<Object>& objects) {
  std::string out = "{\"apiVersion\":\"v1\",\"items\":[";
  for (size_t i = 0; i < objects.size(); ++i) {
    if (i) out += ',';
    out += objects[i].json;
  }
  out += "],\"kind\":\"List\",\"metadata\":{}}\n";
  return out;
}

}  // namespace pagoda::manifest

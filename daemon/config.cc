#include "daemon/config.h"

#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <set>

#include "base/file.h"
#include "base/yaml.h"
#include "manifest/manifest.h"
#include "manifest/names.h"

namespace pagoda::daemon {
namespace {

namespace fs = std::filesystem;

// The budgets of one config file: far more than any config needs.
constexpr YamlLimits kConfigLimits{};

class Reader {
 public:
  Reader(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  Status Error(Pos pos, const std::string& field, const std::string& message) const {
    return Status::InvalidArgument(FilePos(source_, pos) + ": " + field + ": " + message);
  }
  Status Error(const YamlNode& node, const std::string& field, const std::string& message) const {
    return Error(node.pos, field, message);
  }

  // Every key of `map` must be one of `known`.
  Status Keys(const YamlNode& map, const std::string& prefix,
              const std::set<std::string>& known) const {
    if (!map.IsMap()) return Error(map, prefix.empty() ? "(top)" : prefix, "expected a mapping");
    for (const YamlEntry& entry : map.entries) {
      if (!known.count(entry.key)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return Error(entry.key_pos, prefix + entry.key, "unknown field (known: " + list + ")");
      }
    }
    return Status::Ok();
  }

  Status String(const YamlNode& map, const char* key, const std::string& prefix,
                std::string* out) const {
    const YamlNode* node = map.Find(key);
    if (node == nullptr) return Status::Ok();
    if (!node->IsScalar()) return Error(*node, prefix + key, "expected a string");
    *out = node->scalar;
    return Status::Ok();
  }

  Status Path(const YamlNode& map, const char* key, const std::string& prefix,
              std::string* out) const {
    PAGODA_RETURN_IF_ERROR(String(map, key, prefix, out));
    if (!out->empty() && !fs::path(*out).is_absolute()) {
      *out = (fs::path(base_dir_) / *out).lexically_normal().string();
    }
    return Status::Ok();
  }

  Status Bool(const YamlNode& map, const char* key, const std::string& prefix, bool* out) const {
    const YamlNode* node = map.Find(key);
    if (node == nullptr) return Status::Ok();
    std::string text = node->IsScalar() ? node->scalar : "";
    if (text != "true" && text != "false")
      return Error(*node, prefix + key, "expected true or false");
    *out = text == "true";
    return Status::Ok();
  }

  Status Duration(const YamlNode& map, const char* key, int64_t min_ms, int64_t* out,
                  const std::string& prefix = "") const {
    const YamlNode* node = map.Find(key);
    if (node == nullptr) return Status::Ok();
    const std::string field = prefix + key;
    if (!node->IsScalar()) return Error(*node, field, "expected a duration such as 30s");
    auto ms = manifest::ParseDuration(node->scalar);
    if (!ms.ok()) return Error(*node, field, ms.status().message());
    if (*ms < min_ms) {
      return Error(*node, field, "must be at least " + std::to_string(min_ms) + "ms");
    }
    *out = *ms;
    return Status::Ok();
  }

  template <typename T>
  Status Number(const YamlNode& map, const char* key, T min, T* out,
                const std::string& prefix = "") const {
    const YamlNode* node = map.Find(key);
    if (node == nullptr) return Status::Ok();
    const std::string field = prefix + key;
    T value{};
    if (!ParseNumber(*node, &value)) return Error(*node, field, "expected a number");
    if (value < min) return Error(*node, field, "must be at least " + std::to_string(min));
    *out = value;
    return Status::Ok();
  }

 private:
  static bool ParseNumber(const YamlNode& node, int* out) {
    int64_t value = 0;
    if (!node.IsScalar() || !IsYamlInt(node.scalar, &value)) return false;
    if (value < INT_MIN || value > INT_MAX) return false;
    *out = static_cast<int>(value);
    return true;
  }
  static bool ParseNumber(const YamlNode& node, double* out) {
    if (!node.IsScalar()) return false;
    const std::string& text = node.scalar;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size() && std::isfinite(*out);
  }

  std::string source_;
  std::string base_dir_;
};

Status Level(const Reader& r, const YamlNode& node, const std::string& field,
             manifest::PodSecurityLevel* out) {
  std::string text = node.IsScalar() ? node.scalar : "";
  if (text == "baseline") {
    *out = manifest::PodSecurityLevel::kBaseline;
  } else if (text == "privileged") {
    *out = manifest::PodSecurityLevel::kPrivileged;
  } else {
    return r.Error(node, field, "expected baseline or privileged");
  }
  return Status::Ok();
}

// A size such as 16Mi (`bytes`), or a count; at least 1.
template <typename T>
Status Amount(const Reader& r, const YamlNode& map, const char* key, bool bytes, T* out) {
  const YamlNode* node = map.Find(key);
  if (node == nullptr) return Status::Ok();
  const std::string text = node->IsScalar() ? node->scalar : "";
  int64_t value = 0;
  if (bytes) {
    Result<int64_t> parsed = manifest::ParseMemory(text);
    value = parsed.ok() ? *parsed : 0;
  } else if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
             ec != std::errc() || end != text.data() + text.size()) {
    value = 0;
  }
  if (value < 1 || value > (int64_t{1} << 40)) {
    return r.Error(*node, std::string("limits.") + key,
                   bytes ? "expected a size such as 16Mi" : "expected a count of 1 or more");
  }
  *out = static_cast<T>(value);
  return Status::Ok();
}

Status ReadLimits(const Reader& r, const YamlNode& root, DaemonConfig::Limits* limits) {
  const YamlNode* node = root.Find("limits");
  if (node == nullptr) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(
      r.Keys(*node, "limits.", {"fileBytes", "appBytes", "appFiles", "appDepth", "repoBytes"}));
  PAGODA_RETURN_IF_ERROR(Amount(r, *node, "fileBytes", true, &limits->file_bytes));
  PAGODA_RETURN_IF_ERROR(Amount(r, *node, "appBytes", true, &limits->app_bytes));
  PAGODA_RETURN_IF_ERROR(Amount(r, *node, "appFiles", false, &limits->app_files));
  PAGODA_RETURN_IF_ERROR(Amount(r, *node, "appDepth", false, &limits->app_depth));
  PAGODA_RETURN_IF_ERROR(Amount(r, *node, "repoBytes", true, &limits->repo_bytes));
  return Status::Ok();
}

Status HttpUrl(const Reader& r, const YamlNode& node, const std::string& field, std::string* out) {
  if (!node.IsScalar() ||
      !(node.scalar.starts_with("http://") || node.scalar.starts_with("https://")) ||
      node.scalar.find_first_of(" \t\r\n") != std::string::npos) {
    return r.Error(node, field, "expected an http:// or https:// URL");
  }
  *out = node.scalar;
  while (out->ends_with("/")) out->pop_back();
  return Status::Ok();
}

// gates: the endpoints gates between batches may ask.
Status ReadGates(const Reader& r, const YamlNode& root, DaemonConfig::Gates* gates) {
  const YamlNode* node = root.Find("gates");
  if (node == nullptr) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(r.Keys(*node, "gates.", {"prometheus", "webhooks", "timeout"}));
  if (const YamlNode* p = node->Find("prometheus")) {
    PAGODA_RETURN_IF_ERROR(HttpUrl(r, *p, "gates.prometheus", &gates->prometheus));
  }
  PAGODA_RETURN_IF_ERROR(r.Duration(*node, "timeout", 1000, &gates->timeout_ms));
  const YamlNode* webhooks = node->Find("webhooks");
  if (webhooks == nullptr) return Status::Ok();
  if (!webhooks->IsMap()) return r.Error(*webhooks, "gates.webhooks", "expected a mapping");
  for (const YamlEntry& entry : webhooks->entries) {
    const std::string field = "gates.webhooks." + entry.key;
    if (!manifest::CheckDns1123Label(entry.key).empty()) {
      return r.Error(entry.key_pos, field, "a webhook's name must be a DNS label");
    }
    DaemonConfig::Gates::Webhook& hook = gates->webhooks[entry.key];
    if (entry.value.IsScalar()) {
      PAGODA_RETURN_IF_ERROR(HttpUrl(r, entry.value, field, &hook.url));
      continue;
    }
    PAGODA_RETURN_IF_ERROR(r.Keys(entry.value, field + ".", {"url", "secretFile", "retries"}));
    const YamlNode* url = entry.value.Find("url");
    if (url == nullptr) return r.Error(entry.value, field + ".url", "required");
    PAGODA_RETURN_IF_ERROR(HttpUrl(r, *url, field + ".url", &hook.url));
    PAGODA_RETURN_IF_ERROR(r.Path(entry.value, "secretFile", field + ".", &hook.secret_file));
    PAGODA_RETURN_IF_ERROR(r.Number(entry.value, "retries", 0, &hook.retries));
    if (hook.retries > 10) {
      return r.Error(*entry.value.Find("retries"), field + ".retries", "at most 10");
    }
  }
  return Status::Ok();
}

Status Strings(const Reader& r, const YamlNode& map, const char* key, const std::string& prefix,
               std::vector<std::string>* out) {
  const YamlNode* node = map.Find(key);
  if (node == nullptr) return Status::Ok();
  if (!node->IsSequence()) return r.Error(*node, prefix + key, "expected a list of strings");
  for (const YamlNode& item : node->items) {
    if (!item.IsScalar() || item.scalar.empty()) {
      return r.Error(item, prefix + key, "expected a list of strings");
    }
    out->push_back(item.scalar);
  }
  return Status::Ok();
}

Status ReadReceiver(const Reader& r, const YamlNode& body, const std::string& field,
                    DaemonConfig::Notifications::Receiver* out) {
  const std::string prefix = field + ".";
  PAGODA_RETURN_IF_ERROR(r.Keys(body, prefix,
                                {"type", "url", "urlFile", "secretFile", "tokenFile", "repo",
                                 "targetUrl", "events", "apps", "envs"}));
  const YamlNode* type = body.Find("type");
  if (type == nullptr) return r.Error(body, prefix + "type", "required");
  auto parsed = notify::ParseReceiverType(type->IsScalar() ? type->scalar : "");
  if (!parsed.ok()) return r.Error(*type, prefix + "type", parsed.status().message());
  out->type = *parsed;
  if (const YamlNode* url = body.Find("url")) {
    PAGODA_RETURN_IF_ERROR(HttpUrl(r, *url, prefix + "url", &out->url));
  }
  PAGODA_RETURN_IF_ERROR(r.Path(body, "urlFile", prefix, &out->url_file));
  if (out->url.empty() == out->url_file.empty()) {
    return r.Error(body, prefix + "url", "give url or urlFile (a robot's URL holds its key)");
  }
  PAGODA_RETURN_IF_ERROR(r.Path(body, "secretFile", prefix, &out->secret_file));
  PAGODA_RETURN_IF_ERROR(r.Path(body, "tokenFile", prefix, &out->token_file));
  PAGODA_RETURN_IF_ERROR(r.String(body, "repo", prefix, &out->repo));
  if (const YamlNode* target = body.Find("targetUrl")) {
    PAGODA_RETURN_IF_ERROR(HttpUrl(r, *target, prefix + "targetUrl", &out->target_url));
  }
  const bool forge = notify::IsForge(out->type);
  const bool signs = out->type == notify::ReceiverType::kGeneric ||
                     out->type == notify::ReceiverType::kDingTalk ||
                     out->type == notify::ReceiverType::kFeishu;
  if (forge && (out->repo.empty() || out->token_file.empty())) {
    return r.Error(body, prefix + (out->repo.empty() ? "repo" : "tokenFile"),
                   "required for commit statuses");
  }
  if (!forge && (!out->repo.empty() || !out->token_file.empty() || !out->target_url.empty())) {
    return r.Error(body, prefix + "repo",
                   "repo, tokenFile and targetUrl are for commit statuses (github, gitlab, gitea)");
  }
  if (!signs && !out->secret_file.empty()) {
    return r.Error(*body.Find("secretFile"), prefix + "secretFile",
                   std::string(notify::Name(out->type)) + " messages are not signed");
  }
  if (const YamlNode* events = body.Find("events")) {
    if (!events->IsSequence()) return r.Error(*events, prefix + "events", "expected a list");
    for (const YamlNode& item : events->items) {
      auto kind = notify::ParseEventKind(item.IsScalar() ? item.scalar : "");
      if (!kind.ok()) return r.Error(item, prefix + "events", kind.status().message());
      out->events.push_back(*kind);
    }
  }
  PAGODA_RETURN_IF_ERROR(Strings(r, body, "apps", prefix, &out->apps));
  return Strings(r, body, "envs", prefix, &out->envs);
}

// notifications: who is told of releases.
Status ReadNotifications(const Reader& r, const YamlNode& root,
                         DaemonConfig::Notifications* notifications) {
  const YamlNode* node = root.Find("notifications");
  if (node == nullptr) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(r.Keys(*node, "notifications.", {"receivers", "timeout", "deadline"}));
  PAGODA_RETURN_IF_ERROR(r.Duration(*node, "timeout", 100, &notifications->timeout_ms));
  PAGODA_RETURN_IF_ERROR(r.Duration(*node, "deadline", 1000, &notifications->deadline_ms));
  const YamlNode* receivers = node->Find("receivers");
  if (receivers == nullptr) return Status::Ok();
  if (!receivers->IsMap()) {
    return r.Error(*receivers, "notifications.receivers", "expected a mapping of names");
  }
  for (const YamlEntry& entry : receivers->entries) {
    const std::string field = "notifications.receivers." + entry.key;
    if (!manifest::CheckDns1123Label(entry.key).empty()) {
      return r.Error(entry.key_pos, field, "a receiver's name must be a DNS label");
    }
    PAGODA_RETURN_IF_ERROR(
        ReadReceiver(r, entry.value, field, &notifications->receivers[entry.key]));
  }
  return Status::Ok();
}

// reservedNamespaces and podSecurity: what the platform keeps, and grants.
Status ReadTenancy(const Reader& r, const YamlNode& root, DaemonConfig* config) {
  if (const YamlNode* reserved = root.Find("reservedNamespaces")) {
    if (!reserved->IsSequence()) {
      return r.Error(*reserved, "reservedNamespaces", "expected a list of names or globs");
    }
    for (const YamlNode& item : reserved->items) {
      std::string glob = item.IsScalar() ? item.scalar : "";
      if (glob.empty()) return r.Error(item, "reservedNamespaces", "expected a name or a glob");
      config->reserved_namespaces.push_back(glob);
    }
  }
  PAGODA_RETURN_IF_ERROR(ReadLimits(r, root, &config->limits));
  const YamlNode* pod_security = root.Find("podSecurity");
  if (pod_security == nullptr) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(r.Keys(*pod_security, "podSecurity.", {"default", "apps"}));
  if (const YamlNode* level = pod_security->Find("default")) {
    PAGODA_RETURN_IF_ERROR(
        Level(r, *level, "podSecurity.default", &config->pod_security.default_level));
  }
  if (const YamlNode* apps = pod_security->Find("apps")) {
    if (!apps->IsMap()) return r.Error(*apps, "podSecurity.apps", "expected app: level pairs");
    for (const YamlEntry& entry : apps->entries) {
      manifest::PodSecurityLevel level{};
      PAGODA_RETURN_IF_ERROR(Level(r, entry.value, "podSecurity.apps." + entry.key, &level));
      config->pod_security.apps[entry.key] = level;
    }
  }
  return Status::Ok();
}

// ha: the Lease replicas compete for, its timing, and the shards.
Status ReadHa(const Reader& r, const YamlNode& root, DaemonConfig* config) {
  const YamlNode* node = root.Find("ha");
  if (node == nullptr) return Status::Ok();
  DaemonConfig::Ha& ha = config->ha;
  ha.enabled = true;
  PAGODA_RETURN_IF_ERROR(r.Keys(*node, "ha.", {"lease", "shards", "identity"}));
  const YamlNode* lease = node->Find("lease");
  if (lease == nullptr) return r.Error(*node, "ha.lease", "required: {cluster: NAME}");
  PAGODA_RETURN_IF_ERROR(
      r.Keys(*lease, "ha.lease.",
             {"cluster", "namespace", "name", "leaseDuration", "renewDeadline", "retryPeriod"}));
  PAGODA_RETURN_IF_ERROR(r.String(*lease, "cluster", "ha.lease.", &ha.cluster));
  if (ha.cluster.empty()) {
    return r.Error(*lease, "ha.lease.cluster",
                   "required: the cluster (of clusters) the Leases are in");
  }
  if (!config->clusters.count(ha.cluster)) {
    std::string known;
    for (const auto& [name, c] : config->clusters) known += (known.empty() ? "" : ", ") + name;
    return r.Error(
        *lease->Find("cluster"), "ha.lease.cluster",
        ha.cluster + " is not one of clusters (" + (known.empty() ? "none" : known) + ")");
  }
  PAGODA_RETURN_IF_ERROR(r.String(*lease, "namespace", "ha.lease.", &ha.lease_namespace));
  PAGODA_RETURN_IF_ERROR(r.String(*lease, "name", "ha.lease.", &ha.lease_name));
  for (const char* key : {"namespace", "name"}) {
    const std::string& value = std::string(key) == "name" ? ha.lease_name : ha.lease_namespace;
    if (std::string why = manifest::CheckDns1123Label(value); !why.empty()) {
      return r.Error(lease->Find(key) != nullptr ? *lease->Find(key) : *lease,
                     std::string("ha.lease.") + key, why);
    }
  }
  PAGODA_RETURN_IF_ERROR(r.Duration(*lease, "leaseDuration", 1000, &ha.lease_ms, "ha.lease."));
  PAGODA_RETURN_IF_ERROR(
      r.Duration(*lease, "renewDeadline", 100, &ha.renew_deadline_ms, "ha.lease."));
  PAGODA_RETURN_IF_ERROR(r.Duration(*lease, "retryPeriod", 100, &ha.retry_ms, "ha.lease."));
  // client-go's rule: a holder gives up before its Lease can pass on, and
  // tries often enough (jittered by up to 1.2 x) to renew before it gives up.
  if (ha.lease_ms <= ha.renew_deadline_ms) {
    return r.Error(*lease, "ha.lease.leaseDuration",
                   "must be longer than renewDeadline (" + std::to_string(ha.lease_ms) +
                       "ms <= " + std::to_string(ha.renew_deadline_ms) + "ms)");
  }
  if (ha.renew_deadline_ms * 10 <= ha.retry_ms * 12) {
    return r.Error(*lease, "ha.lease.renewDeadline",
                   "must be longer than 1.2 x retryPeriod (" +
                       std::to_string(ha.renew_deadline_ms) + "ms, retryPeriod " +
                       std::to_string(ha.retry_ms) + "ms)");
  }
  PAGODA_RETURN_IF_ERROR(r.Number<int>(*node, "shards", 1, &ha.shards, "ha."));
  if (ha.shards > 1024) return r.Error(*node->Find("shards"), "ha.shards", "at most 1024");
  PAGODA_RETURN_IF_ERROR(r.String(*node, "identity", "ha.", &ha.identity));
  if (!ha.identity.empty()) {
    if (std::string why = manifest::CheckDns1123Label(ha.identity); !why.empty()) {
      return r.Error(*node->Find("identity"), "ha.identity", why);
    }
  }
  return Status::Ok();
}

// releases: the release records mirrored into the clusters.
Status ReadReleases(const Reader& r, const YamlNode& root, DaemonConfig::Mirror* mirror) {
  const YamlNode* node = root.Find("releases");
  if (node == nullptr) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(r.Keys(*node, "releases.", {"mirror", "historyLimit"}));
  PAGODA_RETURN_IF_ERROR(r.Bool(*node, "mirror", "releases.", &mirror->enabled));
  PAGODA_RETURN_IF_ERROR(
      r.Number<int>(*node, "historyLimit", 1, &mirror->history_limit, "releases."));
  return Status::Ok();
}

}  // namespace

Result<DaemonConfig> ParseDaemonConfig(const std::string& text, const std::string& source) {
  DaemonConfig config;
  config.source = source;
  YamlResult yaml = ReadYaml(text, kConfigLimits);
  if (!yaml.ok) return Status::InvalidArgument(FilePos(source, yaml.error_pos) + ": " + yaml.error);
  Reader r(source, fs::path(source).parent_path().string());
  if (yaml.documents.size() > 1) {
    return r.Error(yaml.documents[1].root, "(top)", "a config file is one YAML document");
  }
  YamlNode empty;
  empty.pos = {1, 1};
  const YamlNode& root = yaml.documents.empty() ? empty : yaml.documents[0].root;
  PAGODA_RETURN_IF_ERROR(r.Keys(root, "",
                                {"repo",
                                 "ref",
                                 "path",
                                 "interval",
                                 "driftInterval",
                                 "fetchTimeout",
                                 "stateDir",
                                 "auth",
                                 "clusters",
                                 "qps",
                                 "burst",
                                 "http",
                                 "log",
                                 "reservedNamespaces",
                                 "podSecurity",
                                 "limits",
                                 "gates",
                                 "notifications",
                                 "ha",
                                 "releases"}));
  PAGODA_RETURN_IF_ERROR(r.String(root, "repo", "", &config.repo));
  if (config.repo.empty()) {
    return Status::InvalidArgument(source + ": repo: required (a URL or a path)");
  }
  // A local path is relative to the config file, like every other path.
  if (config.repo.find("://") == std::string::npos && config.repo.find('@') == std::string::npos &&
      !fs::path(config.repo).is_absolute()) {
    PAGODA_RETURN_IF_ERROR(r.Path(root, "repo", "", &config.repo));
  }
  PAGODA_RETURN_IF_ERROR(r.String(root, "ref", "", &config.ref));
  PAGODA_RETURN_IF_ERROR(r.String(root, "path", "", &config.path));
  PAGODA_RETURN_IF_ERROR(r.Duration(root, "interval", 1000, &config.interval_ms));
  PAGODA_RETURN_IF_ERROR(r.Duration(root, "driftInterval", 1000, &config.drift_interval_ms));
  PAGODA_RETURN_IF_ERROR(r.Duration(root, "fetchTimeout", 1000, &config.fetch_timeout_ms));
  PAGODA_RETURN_IF_ERROR(r.Path(root, "stateDir", "", &config.state_dir));
  PAGODA_RETURN_IF_ERROR(r.Number<double>(root, "qps", 0, &config.qps));
  PAGODA_RETURN_IF_ERROR(r.Number<int>(root, "burst", 1, &config.burst));
  config.rate_limit_given = root.Find("qps") != nullptr || root.Find("burst") != nullptr;
  if (const YamlNode* auth = root.Find("auth")) {
    PAGODA_RETURN_IF_ERROR(r.Keys(*auth, "auth.",
                                  {"username", "tokenFile", "passwordFile", "tokenEnv",
                                   "passwordEnv", "sshKey", "knownHosts", "acceptUnknownHosts"}));
    PAGODA_RETURN_IF_ERROR(r.String(*auth, "username", "auth.", &config.auth.username));
    PAGODA_RETURN_IF_ERROR(r.Path(*auth, "tokenFile", "auth.", &config.auth.password_file));
    if (config.auth.password_file.empty()) {
      PAGODA_RETURN_IF_ERROR(r.Path(*auth, "passwordFile", "auth.", &config.auth.password_file));
    }
    PAGODA_RETURN_IF_ERROR(r.String(*auth, "tokenEnv", "auth.", &config.auth.password_env));
    if (config.auth.password_env.empty()) {
      PAGODA_RETURN_IF_ERROR(r.String(*auth, "passwordEnv", "auth.", &config.auth.password_env));
    }
    PAGODA_RETURN_IF_ERROR(r.Path(*auth, "sshKey", "auth.", &config.auth.ssh_key));
    PAGODA_RETURN_IF_ERROR(r.Path(*auth, "knownHosts", "auth.", &config.auth.known_hosts));
    PAGODA_RETURN_IF_ERROR(
        r.Bool(*auth, "acceptUnknownHosts", "auth.", &config.auth.accept_unknown_hosts));
  }
  if (const YamlNode* clusters = root.Find("clusters")) {
    if (!clusters->IsMap()) return r.Error(*clusters, "clusters", "expected a mapping of names");
    for (const YamlEntry& entry : clusters->entries) {
      const std::string& name = entry.key;
      const std::string prefix = "clusters." + name + ".";
      ClusterConfig cluster;
      const YamlNode& body = entry.value;
      if (body.IsNull()) {
        config.clusters[name] = cluster;
        continue;
      }
      PAGODA_RETURN_IF_ERROR(
          r.Keys(body, prefix, {"kubeconfig", "context", "inCluster", "serviceAccountDir"}));
      PAGODA_RETURN_IF_ERROR(r.Path(body, "kubeconfig", prefix, &cluster.kubeconfig));
      PAGODA_RETURN_IF_ERROR(r.String(body, "context", prefix, &cluster.context));
      PAGODA_RETURN_IF_ERROR(r.Bool(body, "inCluster", prefix, &cluster.in_cluster));
      PAGODA_RETURN_IF_ERROR(
          r.Path(body, "serviceAccountDir", prefix, &cluster.service_account_dir));
      config.clusters[name] = cluster;
    }
  }
  if (const YamlNode* http = root.Find("http")) {
    PAGODA_RETURN_IF_ERROR(
        r.Keys(*http, "http.", {"listen", "webhookSecretFile", "dashboardTokenFile"}));
    PAGODA_RETURN_IF_ERROR(
        r.Path(*http, "dashboardTokenFile", "http.", &config.dashboard_token_file));
    PAGODA_RETURN_IF_ERROR(r.String(*http, "listen", "http.", &config.http_listen));
    PAGODA_RETURN_IF_ERROR(
        r.Path(*http, "webhookSecretFile", "http.", &config.webhook_secret_file));
  }
  if (const YamlNode* log = root.Find("log")) {
    PAGODA_RETURN_IF_ERROR(r.Keys(*log, "log.", {"format"}));
    PAGODA_RETURN_IF_ERROR(r.String(*log, "format", "log.", &config.log_format));
    if (config.log_format != "auto" && config.log_format != "text" && config.log_format != "json") {
      return r.Error(*log->Find("format"), "log.format", "expected auto, text or json");
    }
  }
  PAGODA_RETURN_IF_ERROR(ReadTenancy(r, root, &config));
  PAGODA_RETURN_IF_ERROR(ReadGates(r, root, &config.gates));
  PAGODA_RETURN_IF_ERROR(ReadNotifications(r, root, &config.notifications));
  PAGODA_RETURN_IF_ERROR(ReadHa(r, root, &config));
  PAGODA_RETURN_IF_ERROR(ReadReleases(r, root, &config.mirror));
  return config;
}

void ApplyRepositoryConfig(const DaemonConfig& config, manifest::LoadOptions* options) {
  options->reserved_namespaces = config.reserved_namespaces;
  options->pod_security = config.pod_security;
  options->max_file_bytes = config.limits.file_bytes;
  options->max_app_bytes = config.limits.app_bytes;
  options->max_app_files = config.limits.app_files;
  options->max_app_depth = config.limits.app_depth;
  options->max_repo_bytes = config.limits.repo_bytes;
  options->gate_webhooks.emplace();
  for (const auto& [name, hook] : config.gates.webhooks) options->gate_webhooks->push_back(name);
  options->gate_prometheus = !config.gates.prometheus.empty();
}

Status ApplyRepositoryConfig(const std::string& path, manifest::LoadOptions* options) {
  if (path.empty()) return Status::Ok();
  auto config = LoadDaemonConfig(path);
  if (!config.ok()) return config.status();
  ApplyRepositoryConfig(*config, options);
  return Status::Ok();
}

Result<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  auto text = ReadFile(path, 1 << 20);
  if (!text.ok()) return text.status();
  std::string absolute = fs::absolute(path).lexically_normal().string();
  return ParseDaemonConfig(*text, absolute);
}

}  // namespace pagoda::daemon

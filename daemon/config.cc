#include "daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <set>

#include "base/file.h"
#include "manifest/manifest.h"

namespace pagoda::daemon {
namespace {

namespace fs = std::filesystem;

class Reader {
 public:
  Reader(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  Status Error(const YAML::Node& node, const std::string& field, const std::string& message) const {
    auto mark = node.Mark();
    return Status::InvalidArgument(source_ + ":" + std::to_string(mark.line + 1) + ":" +
                                   std::to_string(mark.column + 1) + ": " + field + ": " + message);
  }

  // Every key of `map` must be one of `known`.
  Status Keys(const YAML::Node& map, const std::string& prefix,
              const std::set<std::string>& known) const {
    if (!map.IsMap()) return Error(map, prefix.empty() ? "(top)" : prefix, "expected a mapping");
    for (const auto& kv : map) {
      auto key = kv.first.as<std::string>();
      if (!known.count(key)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return Error(kv.first, prefix + key, "unknown field (known: " + list + ")");
      }
    }
    return Status::Ok();
  }

  Status String(const YAML::Node& map, const char* key, const std::string& prefix,
                std::string* out) const {
    const YAML::Node node = map[key];
    if (!node) return Status::Ok();
    if (!node.IsScalar()) return Error(node, prefix + key, "expected a string");
    *out = node.as<std::string>();
    return Status::Ok();
  }

  Status Path(const YAML::Node& map, const char* key, const std::string& prefix,
              std::string* out) const {
    PAGODA_RETURN_IF_ERROR(String(map, key, prefix, out));
    if (!out->empty() && !fs::path(*out).is_absolute()) {
      *out = (fs::path(base_dir_) / *out).lexically_normal().string();
    }
    return Status::Ok();
  }

  Status Bool(const YAML::Node& map, const char* key, const std::string& prefix, bool* out) const {
    const YAML::Node node = map[key];
    if (!node) return Status::Ok();
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    if (text != "true" && text != "false")
      return Error(node, prefix + key, "expected true or false");
    *out = text == "true";
    return Status::Ok();
  }

  Status Duration(const YAML::Node& map, const char* key, int64_t min_ms, int64_t* out) const {
    const YAML::Node node = map[key];
    if (!node) return Status::Ok();
    if (!node.IsScalar()) return Error(node, key, "expected a duration such as 30s");
    auto ms = manifest::ParseDuration(node.as<std::string>());
    if (!ms.ok()) return Error(node, key, ms.status().message());
    if (*ms < min_ms) {
      return Error(node, key, "must be at least " + std::to_string(min_ms) + "ms");
    }
    *out = *ms;
    return Status::Ok();
  }

  template <typename T>
  Status Number(const YAML::Node& map, const char* key, T min, T* out) const {
    const YAML::Node node = map[key];
    if (!node) return Status::Ok();
    try {
      T value = node.as<T>();
      if (value < min) return Error(node, key, "must be at least " + std::to_string(min));
      *out = value;
    } catch (const YAML::Exception&) {
      return Error(node, key, "expected a number");
    }
    return Status::Ok();
  }

 private:
  std::string source_;
  std::string base_dir_;
};

Status Level(const Reader& r, const YAML::Node& node, const std::string& field,
             manifest::PodSecurityLevel* out) {
  std::string text = node.IsScalar() ? node.as<std::string>() : "";
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
Status Amount(const Reader& r, const YAML::Node& map, const char* key, bool bytes, T* out) {
  const YAML::Node node = map[key];
  if (!node) return Status::Ok();
  const std::string text = node.IsScalar() ? node.as<std::string>() : "";
  int64_t value = 0;
  if (bytes) {
    Result<int64_t> parsed = manifest::ParseMemory(text);
    value = parsed.ok() ? *parsed : 0;
  } else if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
             ec != std::errc() || end != text.data() + text.size()) {
    value = 0;
  }
  if (value < 1 || value > (int64_t{1} << 40)) {
    return r.Error(node, std::string("limits.") + key,
                   bytes ? "expected a size such as 16Mi" : "expected a count of 1 or more");
  }
  *out = static_cast<T>(value);
  return Status::Ok();
}

Status ReadLimits(const Reader& r, const YAML::Node& root, DaemonConfig::Limits* limits) {
  const YAML::Node node = root["limits"];
  if (!node) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(
      r.Keys(node, "limits.", {"fileBytes", "appBytes", "appFiles", "appDepth", "repoBytes"}));
  PAGODA_RETURN_IF_ERROR(Amount(r, node, "fileBytes", true, &limits->file_bytes));
  PAGODA_RETURN_IF_ERROR(Amount(r, node, "appBytes", true, &limits->app_bytes));
  PAGODA_RETURN_IF_ERROR(Amount(r, node, "appFiles", false, &limits->app_files));
  PAGODA_RETURN_IF_ERROR(Amount(r, node, "appDepth", false, &limits->app_depth));
  PAGODA_RETURN_IF_ERROR(Amount(r, node, "repoBytes", true, &limits->repo_bytes));
  return Status::Ok();
}

// reservedNamespaces and podSecurity: what the platform keeps, and grants.
Status ReadTenancy(const Reader& r, const YAML::Node& root, DaemonConfig* config) {
  if (const YAML::Node reserved = root["reservedNamespaces"]) {
    if (!reserved.IsSequence()) {
      return r.Error(reserved, "reservedNamespaces", "expected a list of names or globs");
    }
    for (const auto& item : reserved) {
      std::string glob = item.IsScalar() ? item.as<std::string>() : "";
      if (glob.empty()) return r.Error(item, "reservedNamespaces", "expected a name or a glob");
      config->reserved_namespaces.push_back(glob);
    }
  }
  PAGODA_RETURN_IF_ERROR(ReadLimits(r, root, &config->limits));
  const YAML::Node pod_security = root["podSecurity"];
  if (!pod_security) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(r.Keys(pod_security, "podSecurity.", {"default", "apps"}));
  if (const YAML::Node level = pod_security["default"]) {
    PAGODA_RETURN_IF_ERROR(
        Level(r, level, "podSecurity.default", &config->pod_security.default_level));
  }
  if (const YAML::Node apps = pod_security["apps"]) {
    if (!apps.IsMap()) return r.Error(apps, "podSecurity.apps", "expected app: level pairs");
    for (const auto& kv : apps) {
      const std::string app = kv.first.as<std::string>();
      manifest::PodSecurityLevel level{};
      PAGODA_RETURN_IF_ERROR(Level(r, kv.second, "podSecurity.apps." + app, &level));
      config->pod_security.apps[app] = level;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<DaemonConfig> ParseDaemonConfig(const std::string& text, const std::string& source) {
  DaemonConfig config;
  config.source = source;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Reader r(source, fs::path(source).parent_path().string());
  try {
    PAGODA_RETURN_IF_ERROR(r.Keys(root, "",
                                  {"repo", "ref", "path", "interval", "driftInterval",
                                   "fetchTimeout", "stateDir", "auth", "clusters", "qps", "burst",
                                   "http", "log", "reservedNamespaces", "podSecurity", "limits"}));
    PAGODA_RETURN_IF_ERROR(r.String(root, "repo", "", &config.repo));
    if (config.repo.empty()) {
      return Status::InvalidArgument(source + ": repo: required (a URL or a path)");
    }
    // A local path is relative to the config file, like every other path.
    if (config.repo.find("://") == std::string::npos &&
        config.repo.find('@') == std::string::npos && !fs::path(config.repo).is_absolute()) {
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
    config.rate_limit_given = root["qps"].IsDefined() || root["burst"].IsDefined();
    if (const YAML::Node auth = root["auth"]) {
      PAGODA_RETURN_IF_ERROR(r.Keys(auth, "auth.",
                                    {"username", "tokenFile", "passwordFile", "tokenEnv",
                                     "passwordEnv", "sshKey", "knownHosts", "acceptUnknownHosts"}));
      PAGODA_RETURN_IF_ERROR(r.String(auth, "username", "auth.", &config.auth.username));
      PAGODA_RETURN_IF_ERROR(r.Path(auth, "tokenFile", "auth.", &config.auth.password_file));
      if (config.auth.password_file.empty()) {
        PAGODA_RETURN_IF_ERROR(r.Path(auth, "passwordFile", "auth.", &config.auth.password_file));
      }
      PAGODA_RETURN_IF_ERROR(r.String(auth, "tokenEnv", "auth.", &config.auth.password_env));
      if (config.auth.password_env.empty()) {
        PAGODA_RETURN_IF_ERROR(r.String(auth, "passwordEnv", "auth.", &config.auth.password_env));
      }
      PAGODA_RETURN_IF_ERROR(r.Path(auth, "sshKey", "auth.", &config.auth.ssh_key));
      PAGODA_RETURN_IF_ERROR(r.Path(auth, "knownHosts", "auth.", &config.auth.known_hosts));
      PAGODA_RETURN_IF_ERROR(
          r.Bool(auth, "acceptUnknownHosts", "auth.", &config.auth.accept_unknown_hosts));
    }
    if (const YAML::Node clusters = root["clusters"]) {
      if (!clusters.IsMap()) return r.Error(clusters, "clusters", "expected a mapping of names");
      for (const auto& kv : clusters) {
        const std::string name = kv.first.as<std::string>();
        const std::string prefix = "clusters." + name + ".";
        ClusterConfig cluster;
        const YAML::Node body = kv.second;
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
    if (const YAML::Node http = root["http"]) {
      PAGODA_RETURN_IF_ERROR(r.Keys(http, "http.", {"listen", "webhookSecretFile"}));
      PAGODA_RETURN_IF_ERROR(r.String(http, "listen", "http.", &config.http_listen));
      PAGODA_RETURN_IF_ERROR(
          r.Path(http, "webhookSecretFile", "http.", &config.webhook_secret_file));
    }
    if (const YAML::Node log = root["log"]) {
      PAGODA_RETURN_IF_ERROR(r.Keys(log, "log.", {"format"}));
      PAGODA_RETURN_IF_ERROR(r.String(log, "format", "log.", &config.log_format));
      if (config.log_format != "auto" && config.log_format != "text" &&
          config.log_format != "json") {
        return r.Error(log["format"], "log.format", "expected auto, text or json");
      }
    }
    PAGODA_RETURN_IF_ERROR(ReadTenancy(r, root, &config));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
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

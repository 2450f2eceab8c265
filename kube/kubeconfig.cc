#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <sstream>

#include "base/base64.h"
#include "base/file.h"
#include "base/yaml.h"
#include "kube/kube.h"

namespace pagoda::kube {
namespace {

namespace fs = std::filesystem;

// Kubeconfigs with many clusters carry their certificates inline.
constexpr YamlLimits kKubeconfigLimits{.max_bytes = 16u << 20};

struct NamedEntry {
  const YamlNode* body = nullptr;  // absent when the entry has none
  std::string file;  // the kubeconfig that defined it, for relative paths and messages
};

// One kubeconfig's worth of named entries merged across files: the first file
// to define a name wins, as kubectl merges $KUBECONFIG.
struct Merged {
  std::map<std::string, NamedEntry> clusters, users, contexts;
  std::string current_context;
};

// A list that is null (as kubectl writes an empty one) has no entries.
Status MergeList(const YamlNode& root, const char* field, const std::string& file,
                 std::map<std::string, NamedEntry>* into) {
  const YamlNode* list = root.Find(field);
  if (list == nullptr || list->IsNull()) return Status::Ok();
  if (!list->IsSequence()) {
    return Status::InvalidArgument(FilePos(file, list->pos) + ": " + field + " must be a list");
  }
  const std::string inner = std::string(field).substr(0, std::string(field).size() - 1);
  for (const YamlNode& item : list->items) {
    const YamlNode* name = item.Find("name");
    if (name == nullptr || !name->IsScalar()) {
      return Status::InvalidArgument(FilePos(file, item.pos) + ": every entry of " + field +
                                     " needs a name");
    }
    into->try_emplace(name->scalar, NamedEntry{item.Find(inner), file});
  }
  return Status::Ok();
}

std::string Str(const YamlNode* node, const char* key) {
  const YamlNode* value = node == nullptr ? nullptr : node->Find(key);
  return value != nullptr && value->IsScalar() ? value->scalar : std::string();
}

std::string Resolve(const std::string& path, const std::string& relative_to) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(relative_to).parent_path() / path).lexically_normal().string();
}

// Reads "<key>-data" (base64) or "<key>" (a file path) of `node`.
Result<std::string> DataOrFile(const YamlNode* node, const std::string& key,
                               const NamedEntry& entry, const std::string& what) {
  std::string data = Str(node, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded.ok()) {
      return decoded.status().WithContext(entry.file + ": " + what + ": " + key + "-data");
    }
    return decoded;
  }
  std::string path = Str(node, key.c_str());
  if (path.empty()) return std::string();
  auto content = ReadFile(Resolve(path, entry.file));
  if (!content.ok()) return content.status().WithContext(entry.file + ": " + what + ": " + key);
  return content;
}

std::vector<std::string> DefaultPaths() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':')) {
      if (!item.empty()) paths.push_back(item);
    }
    return paths;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    paths.push_back(std::string(home) + "/.kube/config");
  }
  return paths;
}

}  // namespace

namespace {

// The kubeconfig files of `paths` read and merged, kubectl's way: the first
// definition of a name wins. `files` keeps what `merged` points into.
Status ReadAndMerge(const std::vector<std::string>& paths, std::deque<YamlResult>* files,
                    Merged* merged) {
  int read = 0;
  for (const auto& path : paths) {
    auto text = ReadFile(path);
    if (!text.ok()) {
      // kubectl skips missing files in $KUBECONFIG but not an explicit one.
      if (text.status().code() == Status::Code::kNotFound && paths.size() > 1) continue;
      return text.status();
    }
    ++read;
    const YamlResult& yaml = files->emplace_back(ReadYaml(*text, kKubeconfigLimits));
    if (!yaml.ok) return Status::InvalidArgument(FilePos(path, yaml.error_pos) + ": " + yaml.error);
    if (yaml.documents.size() > 1) {
      return Status::InvalidArgument(FilePos(path, yaml.documents[1].root.pos) +
                                     ": a kubeconfig is one YAML document");
    }
    if (yaml.documents.empty() || !yaml.documents[0].root.IsMap()) {
      return Status::InvalidArgument(path + ": not a kubeconfig (not a map)");
    }
    const YamlNode& root = yaml.documents[0].root;
    PAGODA_RETURN_IF_ERROR(MergeList(root, "clusters", path, &merged->clusters));
    PAGODA_RETURN_IF_ERROR(MergeList(root, "users", path, &merged->users));
    PAGODA_RETURN_IF_ERROR(MergeList(root, "contexts", path, &merged->contexts));
    if (merged->current_context.empty()) merged->current_context = Str(&root, "current-context");
  }
  if (read == 0) return Status::NotFound("none of the kubeconfig files exist");
  return Status::Ok();
}

// A user's client certificate and key, or token: into `creds`.
Status ReadUser(const NamedEntry& user, const std::string& user_name, Credentials* creds) {
  const std::string what = "user " + user_name;
  auto cert = DataOrFile(user.body, "client-certificate", user, what);
  if (!cert.ok()) return cert.status();
  auto key = DataOrFile(user.body, "client-key", user, what);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return Status::InvalidArgument(user.file + ": " + what +
                                   ": client certificate and key must be given together");
  }
  creds->client_cert_pem = std::move(*cert);
  creds->client_key_pem = std::move(*key);
  creds->bearer_token = Str(user.body, "token");
  creds->bearer_token_file = Resolve(Str(user.body, "tokenFile"), user.file);
  if (user.body != nullptr && user.body->Find("exec") != nullptr) {
    return Status::InvalidArgument(user.file + ": " + what +
                                   ": exec credential plugins are not supported; use a token, "
                                   "a token file or a client certificate");
  }
  return Status::Ok();
}

}  // namespace

Result<Credentials> LoadKubeconfig(const KubeconfigOptions& options) {
  std::vector<std::string> paths = options.paths.empty() ? DefaultPaths() : options.paths;
  if (paths.empty()) return Status::NotFound("no kubeconfig: set --kubeconfig or KUBECONFIG");
  std::deque<YamlResult> files;
  Merged merged;
  PAGODA_RETURN_IF_ERROR(ReadAndMerge(paths, &files, &merged));

  const std::string context_name =
      options.context.empty() ? merged.current_context : options.context;
  if (context_name.empty()) {
    return Status::InvalidArgument(paths.front() + ": no context given and no current-context");
  }
  auto ctx_it = merged.contexts.find(context_name);
  if (ctx_it == merged.contexts.end()) {
    return Status::NotFound("context \"" + context_name + "\" is not in " + paths.front());
  }
  const NamedEntry& ctx = ctx_it->second;
  const std::string cluster_name = Str(ctx.body, "cluster");
  const std::string user_name = Str(ctx.body, "user");
  auto cl_it = merged.clusters.find(cluster_name);
  if (cl_it == merged.clusters.end()) {
    return Status::NotFound(ctx.file + ": context \"" + context_name + "\" names cluster \"" +
                            cluster_name + "\", which is not defined");
  }
  const NamedEntry& cluster = cl_it->second;

  Credentials creds;
  creds.origin = "context " + context_name + " of " + ctx.file;
  creds.server = Str(cluster.body, "server");
  while (!creds.server.empty() && creds.server.back() == '/') creds.server.pop_back();
  if (creds.server.empty()) {
    return Status::InvalidArgument(cluster.file + ": cluster \"" + cluster_name +
                                   "\" has no server");
  }
  creds.insecure_skip_tls_verify = Str(cluster.body, "insecure-skip-tls-verify") == "true";
  creds.tls_server_name = Str(cluster.body, "tls-server-name");
  auto ca = DataOrFile(cluster.body, "certificate-authority", cluster, "cluster " + cluster_name);
  if (!ca.ok()) return ca.status();
  creds.ca_pem = std::move(*ca);
  if (std::string ns = Str(ctx.body, "namespace"); !ns.empty()) creds.default_namespace = ns;
  if (user_name.empty()) return creds;
  auto us_it = merged.users.find(user_name);
  if (us_it == merged.users.end()) {
    return Status::NotFound(ctx.file + ": context \"" + context_name + "\" names user \"" +
                            user_name + "\", which is not defined");
  }
  PAGODA_RETURN_IF_ERROR(ReadUser(us_it->second, user_name, &creds));
  return creds;
}

Result<Credentials> InClusterCredentials(std::string_view secrets_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return Status::NotFound(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset");
  }
  Credentials creds;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 literal
  creds.server = "https://" + h + ":" + port;
  const std::string dir(secrets_dir);
  creds.bearer_token_file = dir + "/token";
  auto token = ReadFile(creds.bearer_token_file);
  if (!token.ok()) return token.status().WithContext("in-cluster service account token");
  auto ca = ReadFile(dir + "/ca.crt");
  if (!ca.ok()) return ca.status().WithContext("in-cluster CA");
  creds.ca_pem = std::move(*ca);
  if (auto ns = ReadFile(dir + "/namespace"); ns.ok() && !ns->empty()) {
    creds.default_namespace = *ns;
  }
  creds.origin = "in-cluster service account";
  return creds;
}

}  // namespace pagoda::kube

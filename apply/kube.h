// apply/ is pagoda's side of the cluster: how to reach a Kubernetes API server
// (kubeconfig, in-cluster config, TLS, tokens) and how to talk to it (REST
// over libcurl, JSON bodies with RapidJSON). It never reads the config
// repository and never decides what should change; it is told.
//
// Start here: LoadKubeconfig() or InClusterCredentials() give Credentials;
// KubeClient speaks the REST API with them.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apply/http.h"
#include "base/status.h"

namespace pagoda::apply {

// Everything needed to reach and authenticate to one API server.
struct Credentials {
  std::string server;           // "https://127.0.0.1:6443", no trailing slash
  std::string ca_pem;           // empty: the system trust store
  std::string client_cert_pem;  // client certificate authentication, with the key
  std::string client_key_pem;
  std::string bearer_token;       // inline token
  std::string bearer_token_file;  // re-read when it changes (projected tokens rotate)
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // SNI and verification name override
  std::string default_namespace = "default";
  std::string origin;  // "context prod of /etc/pagoda/prod.kubeconfig", for messages
};

struct KubeconfigOptions {
  // Files to read, first one wins for each named entry (like kubectl). Empty:
  // $KUBECONFIG (colon-separated), else $HOME/.kube/config.
  std::vector<std::string> paths;
  std::string context;  // empty: current-context
};

// Resolves a context of a kubeconfig into Credentials. Relative file paths in
// the kubeconfig are relative to the file that names them; *-data fields are
// base64. Errors name the file and the missing or bad entry.
Result<Credentials> LoadKubeconfig(const KubeconfigOptions& options);

// The service account pagoda runs as inside a pod: KUBERNETES_SERVICE_HOST and
// _PORT, and the token, CA and namespace under `secrets_dir`.
Result<Credentials> InClusterCredentials(
    std::string_view secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// A REST client for one API server. Paths are absolute API paths
// ("/api/v1/namespaces/shop/pods"). Every non-2xx answer becomes a Status whose
// message carries the API server's own message; the code follows the HTTP
// status (404 NotFound, 409 Conflict or AlreadyExists, 401/403, 422/400
// InvalidArgument, 429/5xx Unavailable).
class KubeClient {
 public:
  // Builds a client with a libcurl transport configured from `creds`.
  static Result<std::unique_ptr<KubeClient>> Connect(Credentials creds);
  KubeClient(Credentials creds, std::unique_ptr<HttpTransport> transport);

  Result<rapidjson::Document> Get(std::string_view path);
  Result<rapidjson::Document> Post(std::string_view path, const rapidjson::Value& body);
  // `content_type` selects the patch strategy: application/merge-patch+json,
  // application/strategic-merge-patch+json or application/apply-patch+yaml.
  Result<rapidjson::Document> Patch(std::string_view path, std::string_view content_type,
                                    std::string_view body);
  Result<rapidjson::Document> Delete(std::string_view path);

  const Credentials& credentials() const { return creds_; }

 private:
  Result<rapidjson::Document> Call(std::string_view method, std::string_view path,
                                   std::string_view content_type, std::string body);

  Credentials creds_;
  std::unique_ptr<HttpTransport> transport_;
};

// Turns an API server answer into a Status (see KubeClient). Exposed for tests.
Status StatusFromResponse(std::string_view method, std::string_view path,
                          const HttpResponse& response);

}  // namespace pagoda::apply

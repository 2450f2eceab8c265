// kube/ is pagoda's side of the cluster: how to reach a Kubernetes API server
// (kubeconfig, in-cluster config, TLS, tokens) and how to talk to it (REST
// over libcurl, JSON bodies with RapidJSON). It never reads the config
// repository and never decides what should change; it is told.
//
// Start here: LoadKubeconfig() or InClusterCredentials() give Credentials;
// KubeClient speaks the REST API with them.
#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "kube/http.h"
#include "kube/throttle.h"

namespace pagoda::kube {

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
// base64. Each file is read with the bounded YAML reader (base/yaml.h), so a
// duplicate key is an error too. Errors name the file (and the line and
// column, where there is one) and the missing or bad entry.
Result<Credentials> LoadKubeconfig(const KubeconfigOptions& options);

// The service account pagoda runs as inside a pod: KUBERNETES_SERVICE_HOST and
// _PORT, and the token, CA and namespace under `secrets_dir`.
Result<Credentials> InClusterCredentials(
    std::string_view secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Asked before every attempt of a write (POST, PUT, PATCH other than a dry
// run, DELETE), on the writing thread: Ok to send it, or the error it fails
// with, unsent. Each Ok is matched by one Leave() once that attempt has its
// answer or has failed. Leadership uses it so that a replica that does not
// hold an app's Lease never writes there (daemon/leadership.h).
class WriteGate {
 public:
  virtual ~WriteGate() = default;
  virtual Status Enter(std::string_view method, std::string_view path) = 0;
  virtual void Leave(std::string_view path) = 0;
};

struct ClientOptions {
  double qps = 50;  // client-side rate limit; <= 0 disables it
  int burst = 100;
  // Whether that limit holds against a server with API Priority and Fairness
  // (its answers carry X-Kubernetes-PF-FlowSchema-UID). By default it is
  // lifted there, as Flux and controller-runtime do: the server queues what
  // it cannot take at once and answers 429 with Retry-After, which pagoda
  // honours. Set when an operator chose a limit.
  bool limit_under_flow_control = false;
  RetryPolicy retry;
  int max_connections = 4;  // concurrent requests, each on its own connection
  std::chrono::milliseconds timeout{30000};
  // A write (POST, PUT, PATCH other than a dry run, DELETE) not answered by
  // then is given up on; 0: `timeout`. Leadership keeps it within the time
  // a holder's Lease outlasts its renew deadline, so that a write let
  // through just before the fence closed is over before another replica
  // can take the Lease (daemon/leadership.h).
  std::chrono::milliseconds write_timeout{0};
  Clock* clock = nullptr;  // nullptr: RealClock()
  // Sent with every request; the API server's audit log names the client by it.
  std::string user_agent = "pagoda";
  std::shared_ptr<WriteGate> write_gate;  // nullptr: every write goes
  // Makes the transports; nullptr: libcurl configured from the credentials.
  std::function<Result<std::unique_ptr<HttpTransport>>()> transport_factory;
};

// Requests made so far, by kind: "GET", "LIST", "PATCH", "DRY-RUN" (a patch
// with dryRun=All), "POST", "PUT", "DELETE"; and answers by HTTP status.
struct RequestStats {
  std::map<std::string, int64_t> by_verb;
  std::map<long, int64_t> by_code;
  int64_t retries = 0;
  std::chrono::nanoseconds throttled{0};  // time spent waiting for the rate limit

  int64_t Writes() const;  // POST, PUT, PATCH and DELETE that were not dry runs
  int64_t Reads() const;   // GET and LIST
  int64_t Total() const;
};

// A resource the API server serves, as discovery describes it.
struct ResourceInfo {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string resource;  // plural, lower case: "deployments"
  bool namespaced = true;
  std::vector<std::string> verbs;

  std::string ApiVersion() const;  // "apps/v1", "v1"
  bool Supports(std::string_view verb) const;
  // "/apis/apps/v1/namespaces/NS/deployments"; all namespaces when `ns` is empty.
  std::string CollectionPath(std::string_view ns) const;
  std::string ObjectPath(std::string_view ns, std::string_view name) const;
};

// A REST client for one API server. Paths are absolute API paths
// ("/api/v1/namespaces/shop/pods"). Every non-2xx answer becomes a Status whose
// message carries the API server's own message; the code follows the HTTP
// status (404 NotFound, 409 Conflict or AlreadyExists, 401/403, 422/400
// InvalidArgument, 429/5xx Unavailable). Requests are paced by a token bucket
// and retried per RetryPolicy. Thread-safe: up to max_connections requests
// run at once, each on a kept-alive connection.
class KubeClient {
 public:
  static Result<std::unique_ptr<KubeClient>> Connect(Credentials creds, ClientOptions options = {});
  ~KubeClient();

  Result<rapidjson::Document> Get(std::string_view path);
  Result<rapidjson::Document> Post(std::string_view path, const rapidjson::Value& body);
  // Replaces the object at `path`; with metadata.resourceVersion set in
  // `body`, only if it is still that version (Conflict otherwise).
  Result<rapidjson::Document> Put(std::string_view path, const rapidjson::Value& body);
  // `content_type` selects the patch strategy: application/merge-patch+json,
  // application/strategic-merge-patch+json or application/apply-patch+yaml.
  // A path with dryRun=All counts as a dry run, not a write.
  // `warnings`, when given, receives what the server warns of (its Warning
  // headers: a deprecated API, a field it ignores, a pod its Pod Security
  // level would refuse), one text each.
  Result<rapidjson::Document> Patch(std::string_view path, std::string_view content_type,
                                    std::string_view body,
                                    std::vector<std::string>* warnings = nullptr);
  Result<rapidjson::Document> Delete(std::string_view path, std::string_view body = "");

  // Every item of a collection, page by page (limit 500). `path` may carry a
  // query (labelSelector=...). Items come without metadata.managedFields:
  // pagoda never reads them, and they are often half an object. With `pool`,
  // the items' values live in it (one pool for many small objects, instead of
  // a 64 KiB block each); the caller keeps it alive as long as the items.
  // `resource_version`, when given, receives the list's resourceVersion: a
  // WATCH from there misses nothing and repeats nothing.
  Result<std::vector<rapidjson::Document>> List(std::string_view path,
                                                rapidjson::MemoryPoolAllocator<>* pool = nullptr,
                                                std::string* resource_version = nullptr);

  // Streams a WATCH of `path` (a collection path whose query has watch=1):
  // `on_event` gets each event, one JSON object, as it arrives, and an empty
  // one now and then (at least once a second) between them; returning false ends the watch.
  // It runs on a connection of its own, outside max_connections, until the
  // server ends it (Ok), the caller does (Ok), `timeout` passes (a silent
  // connection), or it fails. Counted as verb "WATCH"; paced by the rate
  // limit like any request, not retried.
  Status Watch(std::string_view path, const std::function<bool(std::string_view)>& on_event,
               std::chrono::seconds timeout);

  // Called after every write that succeeded (not dry runs), on the writing
  // thread, with its method, path and the server's answer (the object
  // written, for most). One observer; a second call replaces it.
  using WriteObserver = std::function<void(std::string_view method, std::string_view path,
                                           const rapidjson::Value& answer)>;
  void SetWriteObserver(WriteObserver observer);

  // What serves `kind` of `api_version`, from aggregated discovery (/api and
  // /apis), fetched once and again when a kind is not found.
  Result<ResourceInfo> Resource(std::string_view api_version, std::string_view kind);
  Result<std::vector<ResourceInfo>> Resources();

  RequestStats stats() const;
  // False once the server showed API Priority and Fairness and the options
  // let that lift the client-side limit.
  bool rate_limited() const { return !limit_lifted_.load(); }
  const Credentials& credentials() const { return creds_; }

 private:
  struct Pool;
  KubeClient(Credentials creds, ClientOptions options);
  Result<rapidjson::Document> Call(std::string_view verb, std::string_view method,
                                   std::string_view path, std::string_view content_type,
                                   std::string body, std::string_view accept = "application/json",
                                   std::vector<std::string>* warnings = nullptr);
  // Call without parsing the answer: a 2xx response, or the Status of another.
  Result<HttpResponse> CallRaw(std::string_view verb, std::string_view method,
                               std::string_view path, std::string_view content_type,
                               std::string body, std::string_view accept);
  Result<HttpRequest> MakeRequest(std::string_view method, std::string_view path,
                                  std::string_view content_type, std::string body,
                                  std::string_view accept);
  Status Discover();
  // Lifts the rate limit when `response` shows API Priority and Fairness.
  void NoteFlowControl(const HttpResponse& response);

  Credentials creds_;
  ClientOptions options_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<TokenBucket> bucket_;
  std::atomic<bool> limit_lifted_{false};
  mutable std::mutex mu_;  // guards the members below
  RequestStats stats_;
  std::mt19937_64 rng_;
  std::vector<ResourceInfo> resources_;
  bool discovered_ = false;
  WriteObserver write_observer_;
};

// The texts of a response's Warning headers (RFC 7234 form, `299 - "text"`),
// one per header. Exposed for tests.
std::vector<std::string> WarningsOf(const HttpResponse& response);

// Turns an API server answer into a Status (see KubeClient). Exposed for tests.
Status StatusFromResponse(std::string_view method, std::string_view path,
                          const HttpResponse& response);

}  // namespace pagoda::kube

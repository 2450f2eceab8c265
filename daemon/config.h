// The daemon's configuration file, e.g. /etc/pagoda/config.yaml:
//
//   repo: https://git.example.com/platform/apps.git  # or ssh://…, git@host:path, file:///…, a path
//   ref: main                  # branch, tag or commit
//   path: ""                   # sub-directory that holds apps/
//   interval: 30s              # fetch period (jittered by up to 10%)
//   driftInterval: 5m          # full reconcile without a new commit
//   fetchTimeout: 2m           # a fetch that takes longer is ended (a silent server)
//   stateDir: /var/lib/pagoda  # bare clone, journal, control socket
//   auth: {tokenFile: /etc/pagoda/git-token}        # or {username, passwordFile}, {tokenEnv},
//                                                   # or {sshKey, knownHosts, acceptUnknownHosts}
//   clusters:
//     test: {kubeconfig: /etc/pagoda/test.kubeconfig, context: test}
//     prod: {inCluster: true}   # serviceAccountDir: the token, ca.crt and namespace
//   qps: 50                    # API requests per second per cluster, and burst; without
//   burst: 100                 # them, lifted where the server has API Priority and Fairness
//   http: {listen: "127.0.0.1:9420", webhookSecretFile: /etc/pagoda/webhook-secret,
//          dashboardTokenFile: /etc/pagoda/dashboard-token}   # the dashboard may act
//   log: {format: auto}        # auto | text | json
//   reservedNamespaces: [monitoring, "team-*"]     # never app names (beyond kube-*,
//                                                  # default, pagoda-system)
//   podSecurity: {default: baseline, apps: {infra-x: privileged}}   # baseline | privileged
//   limits: {fileBytes: 1Mi, appBytes: 16Mi, appFiles: 1000, appDepth: 8, repoBytes: 256Mi}
//   gates:                     # what gates between batches may ask (spec.release.gates)
//     prometheus: http://prometheus.monitoring:9090
//     webhooks:                # by name: the repository names them, never a URL
//       smoke: https://ci.example.com/hooks/smoke
//       deploy-bot: {url: https://bot.example.com/gate, secretFile: /etc/pagoda/bot-secret,
//                    retries: 2}   # signed: X-Pagoda-Signature-256: sha256=HMAC(secret, body)
//     timeout: 10s             # per check
//   notifications:             # who is told of releases (notify/notify.h), by name
//     receivers:
//       team-chat: {type: slack, urlFile: /etc/pagoda/slack-url}   # the URL holds a key
//       ops: {type: dingtalk, urlFile: /etc/pagoda/ding-url, secretFile: /etc/pagoda/ding-secret,
//             events: [failed, rolled-back, held], apps: ["pay*"], envs: [prod]}
//       audit: {type: generic, url: https://audit.example.com/pagoda,
//               secretFile: /etc/pagoda/audit-secret}   # X-Pagoda-Signature-256
//       commits: {type: gitea, url: https://git.example.com/api/v1, repo: platform/apps,
//                 tokenFile: /etc/pagoda/gitea-token, targetUrl: https://pagoda.example.com/}
//     timeout: 10s             # per request
//     deadline: 10m            # an event not delivered by then is given up
//   ha:                        # several replicas, one writing (docs/architecture.md)
//     lease: {cluster: prod, namespace: pagoda-system, name: pagoda,
//             leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 2s}
//     shards: 4                # apps split by a hash of their name, a Lease each
//     identity: pagoda-0       # default: $POD_NAME, else the host name (a random
//                              # suffix is added for each process)
//   releases: {mirror: true, historyLimit: 100}   # Release objects in the clusters
//
// It is read with the bounded YAML reader (base/yaml.h): unknown keys,
// duplicate keys, merge keys and tags are errors, reported with file, line
// and column. Cluster names never appear in Git: the repository names them,
// this file says where they are.
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "manifest/manifest.h"
#include "notify/notify.h"

namespace pagoda::daemon {

struct ClusterConfig {
  std::string kubeconfig;  // "" = $KUBECONFIG or ~/.kube/config
  std::string context;     // "" = the kubeconfig's current context
  bool in_cluster = false;
  // Where the service account's token, ca.crt and namespace are ("" = the
  // pod's /var/run/secrets/kubernetes.io/serviceaccount).
  std::string service_account_dir;
};

struct DaemonConfig {
  std::string source;  // the file it was read from, for messages
  std::string repo;
  std::string ref = "main";
  std::string path;
  int64_t interval_ms = 30'000;
  int64_t drift_interval_ms = 300'000;
  int64_t fetch_timeout_ms = 120'000;  // a fetch that takes longer is ended
  std::string state_dir = "/var/lib/pagoda";
  struct Auth {
    std::string username;
    std::string password_file;  // tokenFile and passwordFile are the same thing
    std::string password_env;
    std::string ssh_key;
    std::string known_hosts;
    bool accept_unknown_hosts = false;
  } auth;
  std::map<std::string, ClusterConfig> clusters;
  double qps = 50;
  int burst = 100;
  bool rate_limit_given = false;  // qps or burst set: the limit holds whatever the server
  std::string http_listen = "127.0.0.1:9420";
  std::string webhook_secret_file;
  std::string dashboard_token_file;  // "" = the dashboard is read-only
  std::string log_format = "auto";
  // Tenancy: namespaces refused as app names beyond kube-*, default and
  // pagoda-system (globs), and the Pod Security level each app gets.
  std::vector<std::string> reserved_namespaces;
  manifest::PodSecurityPolicy pod_security;
  // Budgets of what one app, and the repository, may cost to read.
  struct Limits {
    size_t file_bytes = manifest::LoadOptions{}.max_file_bytes;
    size_t app_bytes = manifest::LoadOptions{}.max_app_bytes;
    size_t app_files = manifest::LoadOptions{}.max_app_files;
    int app_depth = manifest::LoadOptions{}.max_app_depth;
    size_t repo_bytes = manifest::LoadOptions{}.max_repo_bytes;
  } limits;
  // Gates: the Prometheus their queries go to, and the webhooks they may
  // call, by name. A repository names a webhook; only this file says where.
  struct Gates {
    std::string prometheus;  // "" = none
    struct Webhook {
      std::string url;          // http(s)
      std::string secret_file;  // "" = unsigned
      int retries = 0;
    };
    std::map<std::string, Webhook> webhooks;  // by name
    int64_t timeout_ms = 10'000;
  } gates;

  // Notifications: where each receiver is, and the files its secrets are in.
  struct Notifications {
    struct Receiver {
      notify::ReceiverType type = notify::ReceiverType::kGeneric;
      std::string url, url_file;  // one of them
      std::string secret_file, token_file, repo, target_url;
      std::vector<notify::EventKind> events;
      std::vector<std::string> apps, envs;
      friend bool operator==(const Receiver&, const Receiver&) = default;
    };
    std::map<std::string, Receiver> receivers;  // by name
    int64_t timeout_ms = 10'000;
    int64_t deadline_ms = 600'000;
    friend bool operator==(const Notifications&, const Notifications&) = default;
  } notifications;

  // Several replicas (docs/architecture.md, "Beyond one daemon"): the Lease
  // they compete for, in one of `clusters`, its timing (client-go's
  // semantics and defaults), and the shards apps are split into.
  struct Ha {
    bool enabled = false;  // `ha` given: only the holder of an app's Lease writes
    std::string cluster;
    std::string lease_namespace = "pagoda-system";
    std::string lease_name = "pagoda";
    int64_t lease_ms = 15'000;
    int64_t renew_deadline_ms = 10'000;
    int64_t retry_ms = 2'000;
    int shards = 1;        // 1: one Lease (lease_name) for every app
    std::string identity;  // "": $POD_NAME, else the host name
    friend bool operator==(const Ha&, const Ha&) = default;
  } ha;

  // Every release record mirrored, after the journal, as a Release object
  // in its app's namespace of the cluster it ran in; at most
  // history_limit kept per environment.
  struct Mirror {
    bool enabled = true;
    int history_limit = 100;
    friend bool operator==(const Mirror&, const Mirror&) = default;
  } mirror;

  // Paths inside the state directory.
  std::string CloneDir() const { return state_dir + "/repo.git"; }
  std::string JournalPath() const { return state_dir + "/journal"; }
  std::string SocketPath() const { return state_dir + "/control.sock"; }
  std::string StatusPath() const { return state_dir + "/status.json"; }
  std::string PinsPath() const { return state_dir + "/pins.json"; }
};

// How the daemon configured by `config` reads a repository: its
// reservedNamespaces, podSecurity and limits in `options`.
void ApplyRepositoryConfig(const DaemonConfig& config, manifest::LoadOptions* options);
// The same from the config file at `path`; nothing when `path` is "".
Status ApplyRepositoryConfig(const std::string& path, manifest::LoadOptions* options);

// Reads and checks a config file. Relative paths in it are relative to the
// file's directory.
Result<DaemonConfig> LoadDaemonConfig(const std::string& path);
// The same from text, `source` naming it in messages.
Result<DaemonConfig> ParseDaemonConfig(const std::string& text, const std::string& source);

}  // namespace pagoda::daemon

// manifest/ is pagoda's desired state. It reads a config repository
// through the FileSource it is given, parses its App, DeployConfig and
// Environment files into a typed model whose values remember their file, line
// and column, validates that model, and renders each environment into plain
// Kubernetes objects.
//
// It never does I/O beyond reading files through the FileSource, never talks
// to a cluster, never logs, and never lets an exception out: every problem with
// the input is a Diagnostic, every other failure a Status.
//
// Start here: LoadRepository() gives a Repository (per app: the model, its
// diagnostics, whether it is valid); RenderApp() turns a valid app into
// RenderedApp; ToYaml()/ToJsonList() print objects.
//
// The repository layout and schema: docs/schema.md.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/yaml.h"
#include "policy/freeze.h"
#include "policy/gate.h"

namespace pagoda::manifest {

// ---- Diagnostics ----------------------------------------------------------

enum class Severity { kError, kWarning };

// One finding about the input. Printed as
//   apps/shop/envs/prod.yaml:12:5: spec.release.batches: 5 is more than replicas (4)
// with "warning: " before the field for warnings.
struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;   // relative POSIX path from the repository root; "" for the repository
  int line = 0;       // 1-based; 0 when the finding is about the whole file
  int column = 0;     // 1-based; 0 with line 0
  std::string field;  // "spec.release.batches"; "" when about the document or file
  std::string message;

  // Control characters in it are written \xNN, so that one diagnostic is
  // always one line, whatever the repository holds.
  std::string ToString() const;
  // Sort order: file, line, column, field, message, then errors before warnings.
  friend std::strong_ordering operator<=>(const Diagnostic& a, const Diagnostic& b);
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

bool HasErrors(const std::vector<Diagnostic>& diagnostics);

// ---- Reading files ----------------------------------------------------------

// One file of a listing.
struct FileInfo {
  std::string path;   // relative POSIX path from the root ("apps/shop/app.yaml")
  uint64_t size = 0;  // bytes; of the file a symlink names, 0 when it names nothing
};

// How far a listing goes. A repository is written by many hands: a folder
// nested without end or holding a million files must cost a bounded listing
// and be reported, not fail everything else.
struct ListLimits {
  int max_depth = 16;           // directory levels below `dir` descended into; 0: its own entries
  size_t max_files = SIZE_MAX;  // files listed at most
};

struct Listing {
  std::vector<FileInfo> files;           // in no particular order
  std::vector<std::string> directories;  // not descended into: they lie max_depth levels down
  // TreeId() of each of `directories`, in their order, when the source
  // tells them while listing (Git); empty when it does not.
  std::vector<std::string> directory_trees;
  bool truncated = false;  // more than max_files files: `files` holds max_files of them
};

// The repository as pagoda reads it: relative POSIX paths ("apps/shop/app.yaml")
// from its root. Implementations: MemorySource (below); a directory and a
// Git tree (source/source.h).
class FileSource {
 public:
  virtual ~FileSource() = default;

  // The files under directory `dir` ("apps"; "" for the root), recursively
  // within `limits`, as paths from the root, with their sizes, and the
  // directories one level past max_depth by name (at max_depth 0: the
  // subdirectories of `dir`). NotFound when `dir` does not exist.
  virtual Result<Listing> List(std::string_view dir, const ListLimits& limits) const = 0;

  // The content of `path`, one of List()'s answers. InvalidArgument when it
  // holds more than `max_bytes`; PermissionDenied when it may not be read (a
  // symlink that leads out of the repository).
  virtual Result<std::string> ReadFile(std::string_view path, size_t max_bytes) const = 0;

  // An id of everything under directory `dir` that changes whenever any of
  // it does (Git's tree id); "" when the source cannot tell (the default),
  // and then nothing read from `dir` is ever reused (LoadCache).
  virtual std::string TreeId(std::string_view dir) const;

  // Every file under `dir`, as far as the default limits go: List() for
  // callers that want the paths only.
  Result<std::vector<std::string>> ListFiles(std::string_view dir) const;
};

// Files held in memory, for tests and generated repositories.
class MemorySource : public FileSource {
 public:
  void Add(std::string path, std::string content) { files_[std::move(path)] = std::move(content); }
  Result<Listing> List(std::string_view dir, const ListLimits& limits) const override;
  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) const override;
  std::string TreeId(std::string_view dir) const override;  // SHA-256 of paths and contents

 private:
  std::map<std::string, std::string, std::less<>> files_;
};

// ---- Quantities and durations ------------------------------------------------

// "0.5", "500m", "2", "0" → milli-cpu. Finer than 1m, negative or unparsable
// values are errors whose message says what would be valid.
Result<int64_t> ParseCpu(std::string_view text);
// "512Mi", "1G", "1Gi", "1000", "0" → bytes (must be a whole number of bytes).
Result<int64_t> ParseMemory(std::string_view text);
// "500ms", "30s", "5m", "1h30m", "0" → milliseconds.
Result<int64_t> ParseDuration(std::string_view text);
// Canonical Kubernetes spellings: 500 → "500m", 2000 → "2"; 536870912 → "512Mi".
std::string FormatCpu(int64_t millicpu);
std::string FormatMemory(int64_t bytes);

// What one node can give one instance. 0 means unknown.
struct NodeAllocatable {
  int64_t millicpu = 0;
  int64_t memory_bytes = 0;
};
// "cpu=7.5,memory=15Gi" (either part may be left out).
Result<NodeAllocatable> ParseNodeAllocatable(std::string_view text);

// ---- Tenancy ------------------------------------------------------------------

// The Pod Security Standards level an app's pods must meet
// (kubernetes.io/docs/concepts/security/pod-security-standards): pagoda checks
// plain manifests against it before any request, and labels the app's
// Namespace with it so that the API server enforces it too.
enum class PodSecurityLevel { kBaseline, kPrivileged };
std::string_view PodSecurityLevelName(PodSecurityLevel level);  // "baseline", "privileged"

// ---- The model ---------------------------------------------------------------

// A value and where it was written in its document's file (Pos: 1-based
// line and column, base/yaml.h).
template <typename T>
struct Located {
  T value{};
  Pos pos;
};

struct App {
  std::string file;
  Located<std::string> name;
  std::string description;
  std::vector<std::string> owners;
};

struct EnvVar {
  Located<std::string> name;
  std::string value;   // when secret is empty
  std::string secret;  // a Secret in the app's namespace, made outside Git
  std::string secret_key;
};

struct ConfigFile {
  Located<std::string> path;  // absolute, normalised
  std::string content;
  std::string key;  // its key in the files ConfigMap: the path without the leading '/', '/' → '_'
};

enum class MountType { kEmptyDir, kSecret, kConfigMap };

struct Mount {
  Located<std::string> path;
  MountType type = MountType::kEmptyDir;
  std::string source;            // the Secret or ConfigMap name
  int64_t size_limit_bytes = 0;  // emptyDir; 0 = none
  bool memory_medium = false;    // emptyDir in RAM
};

enum class Protocol { kTcp, kUdp, kHttp, kHttps };

struct ContainerPort {
  Located<std::string> name;
  Located<int> port;
  Protocol protocol = Protocol::kTcp;  // kTcp or kUdp
};

enum class ProbeKind { kHttp, kTcp, kExec };

struct Health {
  Pos pos;
  ProbeKind kind = ProbeKind::kHttp;
  std::string http_path;
  int port = 0;
  std::vector<std::string> exec_command;
  int64_t initial_delay_ms = 0;
  int64_t period_ms = 10000;
  int64_t timeout_ms = 1000;
  int failure_threshold = 3;
};

struct Shutdown {
  int64_t pre_stop_sleep_ms = 0;
  int64_t grace_period_ms = 30000;
};

struct DeployConfig {
  std::string file;
  Located<std::string> name;
  Located<std::string> image;
  Located<int64_t> millicpu;
  Located<int64_t> memory_bytes;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;  // in the order written ($(VAR) expansion depends on it)
  std::vector<ConfigFile> files;
  std::vector<Mount> mounts;
  std::vector<ContainerPort> ports;
  std::optional<Health> health;
  Shutdown shutdown;
};

enum class Pause { kNone, kFirst, kEvery };
enum class OnFailure { kRollback, kHalt };

struct ReleasePolicy {
  int batches = 1;
  Pause pause = Pause::kNone;
  int64_t batch_interval_ms = 0;
  int64_t batch_timeout_ms = 0;  // always set after loading (explicit or derived)
  OnFailure on_failure = OnFailure::kRollback;
  int keep_revisions = 3;
  std::vector<policy::Gate> gates;  // asked after each batch but the last
};

struct SyncPolicy {
  bool automatic = true;
  bool self_heal = false;
  bool prune = false;
};

enum class Exposure { kInternal, kPublic };

struct Listener {
  Pos pos;
  Located<std::string> name;
  Protocol protocol = Protocol::kTcp;
  Located<int> port;
  Located<int> target_port;
  Exposure exposure = Exposure::kInternal;
  bool session_affinity = false;
  std::string host;         // public http/https; "" = any host
  std::string certificate;  // public https: a TLS Secret in the app's namespace
};

// Staged promotion: a new revision goes out here only once environment
// `after` of the same app has run the same artifact (RenderedEnvironment::
// artifact), all instances Ready, for `soak_ms`, with no failed release in
// between.
struct Promotion {
  Pos pos;                     // of the promotion: key
  Located<std::string> after;  // "" = no promotion
  int64_t soak_ms = 0;
};

struct Environment {
  std::string file;
  Located<std::string> name;
  Located<std::string> cluster;
  Located<std::string> deploy_config;
  Located<int64_t> replicas;
  ReleasePolicy release;
  SyncPolicy sync;
  // Take over objects of the rendered names that exist without pagoda's
  // labels (migrating a running service); otherwise they are left alone and
  // reported as conflicts.
  bool adopt = false;
  std::vector<Listener> traffic;
  Promotion promotion;
};

// A service account a pod spec runs as, and where the manifest says so.
struct ServiceAccountUse {
  std::string name;
  Pos pos;
  std::string field;  // "spec.template.spec.serviceAccountName"
};

// A plain Kubernetes object from manifests/, as written (namespace not forced).
struct PlainManifest {
  std::string file;
  Pos pos;
  std::string api_version;
  std::string kind;
  std::string name;
  std::string json;                                 // canonical JSON of the document
  std::vector<ServiceAccountUse> service_accounts;  // of the pods it defines
};

// One app, everything sorted by name (manifests by file, then position).
struct AppModel {
  std::string name;
  App app;
  PodSecurityLevel pod_security = PodSecurityLevel::kBaseline;  // granted by the daemon config
  std::vector<DeployConfig> deploy_configs;
  std::vector<Environment> environments;
  std::vector<PlainManifest> manifests;

  const DeployConfig* FindDeployConfig(std::string_view name) const;
};

// ---- Public listeners -------------------------------------------------------------

// A listener that a cloud load balancer or the ingress controller takes for
// the whole cluster, so that two apps cannot both have it: a port of a
// LoadBalancer Service, or a host of an Ingress.
struct ListenerKey {
  std::string protocol;  // "tcp", "udp", "sctp" (a load balancer's port); "http", "https" (a host)
  int port = 0;
  std::string host;  // http, https: "" means any host

  bool Web() const { return protocol == "http" || protocol == "https"; }
  // What two listeners share when they collide: "host shop.example.com"
  // (http and https alike: one ingress controller serves both), "tcp port 5432".
  std::string Identity() const;
  // "https port 443 host shop.example.com", "tcp port 5432", "http port 80 host (any)".
  std::string ToString() const;
  friend bool operator==(const ListenerKey&, const ListenerKey&) = default;
};

// A public listener of a Kubernetes object, and the field that asks for it.
struct ObjectListener {
  ListenerKey key;
  std::string field;  // "spec.rules[0].host", "spec.ports[1].port"
};

// The public listeners `object_json` takes: each host of an Ingress (a rule
// without one, or a default backend, takes any host) and each port of a
// Service of type LoadBalancer. None for other objects or JSON that does not parse.
std::vector<ObjectListener> ListenersOf(std::string_view object_json);

// One environment's, or one plain manifest's, claim on a public listener.
struct ListenerClaim {
  std::string cluster;
  std::string app;
  std::string env;   // "" for a plain manifest
  std::string kind;  // the object in the app's namespace that takes it: "Ingress", "Service"
  std::string name;  // "prod", "prod-public", or the manifest's name
  ListenerKey listener;
  std::string file;  // where the repository asks for it
  Pos pos;
  std::string field;

  // "shop/prod", or "shop's Ingress web" for a plain manifest.
  std::string Claimant() const;
  // "apps/shop/envs/prod.yaml:14:7".
  std::string Where() const;
  // Claims of one claimant stand or fall together: an environment, or one plain manifest.
  bool SameClaimant(const ListenerClaim& other) const;
  bool operator==(const ListenerClaim& other) const;
};

// An object in a cluster that takes a public listener now.
struct ListenerHolder {
  std::string namespace_name;
  std::string kind;
  std::string name;
  ListenerKey listener;
};

// A claimant that may not have its listener, and why.
struct HeldBack {
  std::string app;
  std::string env;         // "" for a plain manifest
  std::string kind, name;  // the plain manifest held back, when env is ""
  std::string message;     // names the listener, both claimants and who keeps it
};

// Decides the public listeners of one cluster (or several names of one
// server): `claims` are the repository's claims there, `holders` what takes
// listeners there now. For each listener, a claimant whose own object holds
// it keeps it (so does one whose namespace holds it); with no holder, the
// first claim in file order stands. An object that holds it and belongs to
// no claimant keeps it from all of them. Every other claimant is held back.
std::vector<HeldBack> ResolveListenerClaims(const std::vector<ListenerClaim>& claims,
                                            const std::vector<ListenerHolder>& holders);

struct AppResult {
  std::string name;    // the directory name under apps/
  bool valid = false;  // no errors: it may be rendered and synced
  // As far as it could be read; complete when valid. Shared, never changed.
  std::shared_ptr<const AppModel> shared_model;
  std::vector<Diagnostic> diagnostics;  // sorted

  const AppModel& model() const;  // *shared_model; an empty model when there is none
};

struct Repository {
  std::vector<AppResult> apps;  // sorted by name
  // About the repository rather than one app; sorted. Two claims on one
  // public listener are errors here, not of either app: which of them gives
  // way depends on the cluster (ResolveListenerClaims).
  std::vector<Diagnostic> diagnostics;
  // The public listeners the valid apps claim, in file order. Shared and
  // never changed: a load that finds every app's claims as they were keeps
  // the last load's (LoadCache). Null when there are none.
  std::shared_ptr<const std::vector<ListenerClaim>> listener_claims;
  const std::vector<ListenerClaim>& ListenerClaims() const;  // empty when null
  // Freeze windows (policy/freeze.yaml). When that file has errors,
  // freeze_error says so and every automatic release waits until it loads.
  policy::FreezePolicy freeze;
  std::string freeze_error;

  const AppResult* FindApp(std::string_view name) const;
  // Every diagnostic, sorted.
  std::vector<Diagnostic> AllDiagnostics() const;
  bool ok() const;  // no errors anywhere
};

// What the platform grants apps; from the daemon config, never from Git.
struct PodSecurityPolicy {
  PodSecurityLevel default_level = PodSecurityLevel::kBaseline;
  std::map<std::string, PodSecurityLevel, std::less<>> apps;  // by app name

  PodSecurityLevel For(std::string_view app) const;
};

// Namespaces the platform keeps, whatever the daemon config adds: an app is
// never named after one.
inline constexpr const char* kReservedNamespaces[] = {"kube-*", "default", "pagoda-system"};

// The pattern of kReservedNamespaces or `extra` (globs, as fnmatch(3)) that
// `name` matches; "" when none does.
std::string ReservedNamespacePattern(std::string_view name, const std::vector<std::string>& extra);

struct LoadOptions {
  // The clusters environments may name; empty: any valid name.
  std::vector<std::string> known_clusters;
  // For the warning about instances larger than a node.
  std::optional<NodeAllocatable> node_allocatable;

  // Budgets. Many teams write one repository, so each app has budgets of its
  // own: an app past one is invalid alone, with a diagnostic, and the other
  // apps load as if it were not there.
  size_t max_file_bytes = 1u << 20;  // one file
  size_t max_app_bytes = 16u << 20;  // an app's YAML files; and again, what they expand to
  size_t max_app_files = 1000;       // files in an app's folder, read or not
  int max_app_depth = 8;             // directory levels inside an app's folder
  // Every app's YAML files together. Past it, the largest apps are refused
  // until the rest fit: the apps that cost the most are the ones turned away.
  size_t max_repo_bytes = 256u << 20;
  int max_depth = 32;                             // nesting of mappings and sequences
  size_t max_nodes_per_file = 100000;             // after expanding aliases
  size_t max_expanded_bytes_per_file = 4u << 20;  // scalars' bytes, each alias's copy included
  size_t max_aliases_per_file = 10000;            // times a file names an anchor

  // Tenancy (docs/architecture.md, Invariants): names refused as app names beyond
  // kReservedNamespaces (globs), and the Pod Security level of each app.
  std::vector<std::string> reserved_namespaces;
  PodSecurityPolicy pod_security;
  // The webhooks gates may name (the daemon config's gates.webhooks), and
  // whether it names a Prometheus; unset: not checked (the command line).
  std::optional<std::vector<std::string>> gate_webhooks;
  bool gate_prometheus = false;
};

// Reads, parses and validates every app under apps/. Never fails as a whole:
// a problem is a Diagnostic on the app (or the repository) it concerns, and
// one broken app does not affect another's result.
Repository LoadRepository(const FileSource& source, const LoadOptions& options = {});

// What LoadRepository keeps between loads so as to read only the apps whose
// folders changed (by FileSource::TreeId): the apps of the last load alone,
// and good for one LoadOptions: whoever changes them drops it. The result
// equals that of a load without a cache, whatever the cache holds.
struct LoadCache {
  struct App;                                                           // what is kept of one app
  std::map<std::string, std::shared_ptr<const App>, std::less<>> apps;  // by name
  struct Listeners;  // what the apps' claims on public listeners came to
  std::shared_ptr<const Listeners> listeners;
  size_t reused = 0, read = 0;  // apps the last load took from here, and apps it read
};
Repository LoadRepository(const FileSource& source, const LoadOptions& options, LoadCache* cache);

// ---- Rendering -------------------------------------------------------------------

// One Kubernetes object. `json` is canonical: object keys sorted, no
// insignificant whitespace, so equal objects are equal strings.
struct Object {
  std::string api_version;
  std::string kind;
  std::string namespace_name;  // "" for cluster-scoped objects
  std::string name;
  std::string json;
  // A plain manifest's place in the repository ("apps/shop/manifests/db.yaml:12:1"),
  // for messages about it; "" for what pagoda renders itself.
  std::string source;

  std::string Key() const;  // "Deployment/shop/prod-3f2a9c1b0d"
};

// What one cluster gets once for the app, whatever its environments there:
// the Namespace and the plain manifests.
struct RenderedCluster {
  std::string cluster;
  std::vector<Object> objects;
};

struct RenderedEnvironment {
  std::string env;
  std::string cluster;
  std::string revision;  // 10 hex digits of SHA-256 of the canonical pod template
  // 10 hex digits of SHA-256 of what the pods run, the same in every
  // environment: the pod spec without the environment's name, its files
  // ConfigMap's name (its hash stands for it) or where instances are placed.
  std::string artifact;
  std::string files_hash;  // 10 hex digits, "" without files
  int64_t replicas = 0;    // the Deployment's spec.replicas as rendered
  ReleasePolicy release;
  SyncPolicy sync;
  bool adopt = false;
  // ConfigMap <env>-files-<hash>, Service <env>, Deployment <env>-<revision>,
  // Service <env>-public, Ingress <env>, in ObjectOrder.
  std::vector<Object> objects;
};

struct RenderedApp {
  std::string app;
  std::vector<RenderedCluster> clusters;          // sorted by cluster
  std::vector<RenderedEnvironment> environments;  // sorted by env

  // Everything, in the order to apply it: per cluster (sorted), its shared
  // objects then its environments' objects.
  std::vector<Object> AllObjects() const;
};

struct RenderOptions {
  // Set as the annotation pagoda.dev/commit on every object (never inside a
  // pod template, so it never changes a revision). Empty: no annotation.
  std::string commit;
};

// Renders one app. REQUIRES: `app` is the model of an AppResult that is
// valid(); an invalid model gives InvalidArgument. The output is a pure
// function of the model and options: byte-identical for identical input.
Result<RenderedApp> RenderApp(const AppModel& app, const RenderOptions& options = {});

// Apply order: Namespace, ConfigMap, Service, Deployment, Ingress, other kinds
// (by kind), then namespace and name.
bool ObjectOrder(const Object& a, const Object& b);

// Multi-document YAML ("---" before each object), for `kubectl apply -f -`.
std::string ToYaml(const std::vector<Object>& objects);
// A v1 List holding the objects, canonical JSON plus a final newline.
std::string ToJsonList(const std::vector<Object>& objects);

}  // namespace pagoda::manifest

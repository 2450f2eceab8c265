// Release records as the cluster keeps them (docs/architecture.md, "Beyond
// one daemon"): one Release object (releases.pagoda.dev/v1, the CRD in
// deploy/releases.yaml) per record, named after the release id, in the
// app's namespace of the cluster the release ran in; its spec is the
// record's JSON (journal/record.h), its labels say app, env, kind, trigger
// and outcome. `kubectl get releases -n APP` is then the app's history, and it
// outlives the host of the replica that wrote it.
//
// This file turns records into objects and back and reads and writes them;
// it never decides when (daemon/mirror.h does) and never touches the journal.
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "journal/record.h"
#include "kube/kube.h"

namespace pagoda::daemon {

// The API of the CRD, and its labels.
inline constexpr const char* kReleaseApi = "/apis/pagoda.dev/v1";
inline constexpr const char* kReleaseAppLabel = "pagoda.dev/app";
inline constexpr const char* kReleaseEnvLabel = "pagoda.dev/env";
inline constexpr const char* kReleaseKindLabel = "pagoda.dev/kind";
inline constexpr const char* kReleaseOutcomeLabel = "pagoda.dev/outcome";
inline constexpr const char* kReleaseTriggerLabel = "pagoda.dev/trigger";
// The replicas that wrote it (ha: the name of the Lease they share), so
// that one group never takes up another's releases in a shared cluster.
inline constexpr const char* kReleaseGroupLabel = "pagoda.dev/group";

// Who wrote a Release: the replica's identity, and its epoch, the
// leaseTransitions of the Lease it held the app's shard under (0 without
// leadership). A newer epoch's word stands over an older one's.
struct ReleaseWriter {
  std::string identity;
  int64_t epoch = 0;
  std::string group;  // "" without leadership
};

// A Release as read back.
struct MirroredRelease {
  journal::ReleaseRecord record;
  ReleaseWriter writer;
};

// The Release object of `record`, as JSON, for server-side apply. A record
// whose JSON would pass `max_spec_bytes` (etcd keeps objects of 1.5 MiB at
// most) goes without the field lines of its changes, then without its
// changes; the annotation pagoda.dev/trimmed says so.
std::string ReleaseObjectJson(const journal::ReleaseRecord& record, const ReleaseWriter& writer,
                              size_t max_spec_bytes = 512 << 10);
// A Release object back: its spec as a record. InvalidArgument naming the
// object and the field when the spec is not a record.
Result<MirroredRelease> ReleaseOfObject(const rapidjson::Value& object);

struct ReleaseQuery {
  std::string app;  // "" = every app's namespace
  std::string env;  // "" = every environment
  bool in_progress_only = false;
  std::string trigger;  // "" = any; "manual-rollback": those `pagoda rollback` made
  std::string group;    // "" = any; else only those this group of replicas wrote
};

// Where Release objects are, by cluster name (the daemon config's).
class ReleaseObjects {
 public:
  virtual ~ReleaseObjects() = default;
  // Creates or replaces the Release of `record` in namespace record.app of
  // `cluster` (server-side apply, field manager pagoda).
  virtual Status Put(const std::string& cluster, const journal::ReleaseRecord& record,
                     const ReleaseWriter& writer) = 0;
  // The Releases `query` asks for; objects that are not a record
  // (ReleaseOfObject fails) are left out.
  virtual Result<std::vector<MirroredRelease>> List(const std::string& cluster,
                                                    const ReleaseQuery& query) = 0;
  // NotFound is not an error: it is gone either way.
  virtual Status Delete(const std::string& cluster, const std::string& app,
                        const std::string& id) = 0;
};

// Through the API servers `client_for` reaches, one client per cluster
// name (called on the caller's thread; the clients must be thread-safe).
using ClientFor =
    std::function<Result<std::shared_ptr<kube::KubeClient>>(const std::string& cluster)>;
std::unique_ptr<ReleaseObjects> NewKubeReleaseObjects(ClientFor client_for);

}  // namespace pagoda::daemon

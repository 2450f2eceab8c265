// The test cluster's audit log, as tests read it: the API server's own account
// of every write made to it (TestCluster::audit_log, DIR/logs/audit.log of
// tests/cluster/up), one JSON event a line. Which requests it holds, and how
// much of each, is the launcher's audit policy (auditPolicy in
// tests/cluster/tools/testcluster/main.go): every create, update, patch,
// delete and deletecollection, with the user, the user agent, the object and
// the answer's code; for Leases the objects sent and returned as well; no
// reads. The server writes each event before it answers the request, and
// never rotates the file.
//
// The cluster is shared by every test that runs at the same time, so a test
// takes the log's size when it starts, reads from there, and picks its own
// events out by what it knows of them (a user agent of its own, a namespace,
// a name). It never writes the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pagoda::testing {

// What a Lease's spec said, in a request or in an answer; each field only
// when it was there.
struct AuditLeaseSpec {
  std::optional<std::string> holder_identity;
  std::optional<int64_t> lease_transitions;
};

// One event of the log. Strings are "" and numbers 0 when the event lacks them.
struct AuditEvent {
  std::string audit_id;
  std::string stage;  // "ResponseComplete"; "ResponseStarted" or "Panic" seldom
  // requestReceivedTimestamp and stageTimestamp (when the answer was done),
  // in microseconds since the Unix epoch, the precision the server writes.
  int64_t received_us = 0;
  int64_t stage_us = 0;
  std::string verb;  // "create", "update", "patch", "delete", "deletecollection"
  std::string user_agent;
  std::string username;               // user.username: who authenticated
  std::string impersonated_username;  // impersonatedUser.username; "" when none
  // objectRef: what the request was about.
  std::string resource;     // "leases", "configmaps"
  std::string api_group;    // "coordination.k8s.io"; "" for the core group
  std::string ns;           // "" for a cluster-scoped object
  std::string name;         // "" for a collection (a deletecollection, a failed create)
  std::string subresource;  // "scale", "status"; "" for the object itself
  int code = 0;             // responseStatus.code: 201, 409, 403, ...
  // For a Lease (coordination.k8s.io leases): the spec of the object sent
  // (requestObject: the Lease, or the patch) and of the one returned
  // (responseObject); nullopt when that object has no spec (a delete's
  // options, a refusal's Status) or the event is not a Lease's.
  std::optional<AuditLeaseSpec> request_lease;
  std::optional<AuditLeaseSpec> response_lease;

  int64_t received_ms() const { return received_us / 1000; }
  int64_t stage_ms() const { return stage_us / 1000; }
  // "update leases.coordination.k8s.io ns/name -> 200 by kubernetes-admin (agent)",
  // for failure messages.
  std::string ToString() const;
};

// One line of the log.
Result<AuditEvent> ParseAuditEvent(std::string_view line);

// An RFC 3339 time in UTC as the API server writes it
// ("2026-01-02T03:04:05.123456Z", the fraction optional), in microseconds
// since the Unix epoch.
Result<int64_t> ParseAuditTime(std::string_view text);

class AuditLog {
 public:
  explicit AuditLog(std::string path) : path_(std::move(path)) {}
  // The test cluster's (TestCluster::Get().audit_log).
  static AuditLog OfTestCluster();

  const std::string& path() const { return path_; }

  // The log's size in bytes now: where the events still to come start.
  Result<uint64_t> Size() const;

  // The events from byte `offset` on, in the order they were written (the
  // order the answers were done, near enough). An offset inside a line
  // starts at the next one. A last line the server is still writing (no
  // newline yet) is left for the next read: `next`, when given, receives
  // the offset to read on from. Corruption names the offset of a line that
  // is not an event.
  Result<std::vector<AuditEvent>> Read(uint64_t offset, uint64_t* next = nullptr) const;

  // Reads from `offset` every 50 ms until an event `match` holds for is
  // there or `timeout` passes: the first such event, or nullopt. A log it
  // cannot read fails the test.
  std::optional<AuditEvent> WaitFor(uint64_t offset,
                                    const std::function<bool(const AuditEvent&)>& match,
                                    std::chrono::milliseconds timeout) const;

 private:
  std::string path_;
};

}  // namespace pagoda::testing

// The audit log reader (audit_log.h): what it makes of the API server's lines,
// and, against the test cluster, that a write is in the log within moments,
// named by the user agent of the client that made it.
#include "tests/integration/audit_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "kube/kube.h"
#include "tests/integration/test_cluster.h"

namespace pagoda::testing {
namespace {

using std::chrono::milliseconds;

// A line of the server's log, the update of a Lease (shortened: no metadata
// of the objects, no annotations).
constexpr char kLeaseUpdate[] =
    R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",)"
    R"("auditID":"2e5a2e87-0ae0-4474-98e2-c8c9981b5818","stage":"ResponseComplete",)"
    R"("requestURI":"/apis/coordination.k8s.io/v1/namespaces/pagoda-system/leases/pagoda",)"
    R"("verb":"update","user":{"username":"system:serviceaccount:pagoda-system:pagoda",)"
    R"("groups":["system:authenticated"]},"sourceIPs":["127.0.0.1"],)"
    R"json("userAgent":"pagoda/0.1.0 (replica-a)","objectRef":{"resource":"leases",)json"
    R"("namespace":"pagoda-system","name":"pagoda","apiGroup":"coordination.k8s.io",)"
    R"("apiVersion":"v1","resourceVersion":"60"},"responseStatus":{"metadata":{},"code":200},)"
    R"("requestObject":{"kind":"Lease","apiVersion":"coordination.k8s.io/v1",)"
    R"("spec":{"holderIdentity":"replica-a","leaseDurationSeconds":15,"leaseTransitions":3}},)"
    R"("responseObject":{"kind":"Lease","apiVersion":"coordination.k8s.io/v1",)"
    R"("spec":{"holderIdentity":"replica-a","leaseDurationSeconds":15,"leaseTransitions":3}},)"
    R"("requestReceivedTimestamp":"2026-12-06T19:52:16.447897Z",)"
    R"("stageTimestamp":"2026-12-06T19:52:16.453599Z"})";

// A refused write at level Metadata, through impersonation.
constexpr char kRefusedCreate[] =
    R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1",)"
    R"("stage":"ResponseComplete","verb":"create","user":{"username":"kubernetes-admin"},)"
    R"("impersonatedUser":{"username":"system:serviceaccount:pagoda-system:pagoda"},)"
    R"("userAgent":"kubectl/v1.37.2","objectRef":{"resource":"configmaps",)"
    R"("namespace":"kube-system","apiVersion":"v1"},"responseStatus":{"metadata":{},)"
    R"("status":"Failure","reason":"Forbidden","code":403},)"
    R"("requestReceivedTimestamp":"2026-12-06T19:52:16Z","stageTimestamp":"2026-12-06T19:52:16.5Z"})";

TEST(AuditLogTest, ParsesTheServersEvents) {
  auto lease = ParseAuditEvent(kLeaseUpdate);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease->audit_id, "2e5a2e87-0ae0-4474-98e2-c8c9981b5818");
  EXPECT_EQ(lease->stage, "ResponseComplete");
  EXPECT_EQ(lease->verb, "update");
  EXPECT_EQ(lease->username, "system:serviceaccount:pagoda-system:pagoda");
  EXPECT_EQ(lease->impersonated_username, "");
  EXPECT_EQ(lease->user_agent, "pagoda/0.1.0 (replica-a)");
  EXPECT_EQ(lease->resource, "leases");
  EXPECT_EQ(lease->api_group, "coordination.k8s.io");
  EXPECT_EQ(lease->ns, "pagoda-system");
  EXPECT_EQ(lease->name, "pagoda");
  EXPECT_EQ(lease->subresource, "");
  EXPECT_EQ(lease->code, 200);
  EXPECT_EQ(lease->received_us, 1796586736447897);  // date -d 2026-12-06T19:52:16Z +%s
  EXPECT_EQ(lease->stage_us, 1796586736453599);
  EXPECT_EQ(lease->received_ms(), 1796586736447);
  ASSERT_TRUE(lease->request_lease.has_value());
  EXPECT_EQ(lease->request_lease->holder_identity, "replica-a");
  EXPECT_EQ(lease->request_lease->lease_transitions, 3);
  ASSERT_TRUE(lease->response_lease.has_value());
  EXPECT_EQ(lease->response_lease->holder_identity, "replica-a");
  EXPECT_EQ(lease->response_lease->lease_transitions, 3);

  auto refused = ParseAuditEvent(kRefusedCreate);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->username, "kubernetes-admin");
  EXPECT_EQ(refused->impersonated_username, "system:serviceaccount:pagoda-system:pagoda");
  EXPECT_EQ(refused->api_group, "");
  EXPECT_EQ(refused->name, "");
  EXPECT_EQ(refused->code, 403);
  EXPECT_EQ(refused->received_us, 1796586736000000);
  EXPECT_EQ(refused->stage_us, 1796586736500000);
  EXPECT_FALSE(refused->request_lease.has_value());
  EXPECT_FALSE(refused->response_lease.has_value());

  EXPECT_FALSE(ParseAuditEvent("{\"kind\":\"Event\"").ok());
  EXPECT_FALSE(ParseAuditEvent(R"({"kind":"Lease"})").ok());
  EXPECT_FALSE(ParseAuditTime("2026-12-06 19:52:16Z").ok());
  EXPECT_FALSE(ParseAuditTime("2026-12-06T19:52:16+01:00").ok());
  EXPECT_FALSE(ParseAuditTime("2026-12-06T19:52:16.Z").ok());
}

TEST(AuditLogTest, ReadsFromAnOffsetAndLeavesAHalfWrittenLine) {
  const std::string path = ::testing::TempDir() + "/" + UniqueName("audit") + ".log";
  const std::string first = std::string(kLeaseUpdate) + "\n";
  const std::string second = std::string(kRefusedCreate) + "\n";
  std::ofstream(path, std::ios::binary) << first << second << second.substr(0, 40);
  AuditLog log(path);

  uint64_t next = 0;
  auto all = log.Read(0, &next);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].verb, "update");
  EXPECT_EQ((*all)[1].verb, "create");
  EXPECT_EQ(next, first.size() + second.size());  // the half line is left

  // From the start of the second line, and from inside the first: the second.
  for (uint64_t offset : {uint64_t{first.size()}, uint64_t{10}}) {
    auto from = log.Read(offset);
    ASSERT_TRUE(from.ok()) << from.status().ToString();
    ASSERT_EQ(from->size(), 1u) << offset;
    EXPECT_EQ((*from)[0].verb, "create");
  }

  // The server finishes the line: the next read returns it, and only it.
  std::ofstream(path, std::ios::binary | std::ios::app) << second.substr(40);
  auto rest = log.Read(next, &next);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].code, 403);
  auto size = log.Size();
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(next, *size);
  auto none = log.Read(next);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  std::ofstream(path, std::ios::binary | std::ios::app) << "not json\n";
  auto corrupt = log.Read(next);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), Status::Code::kCorruption);
  EXPECT_NE(corrupt.status().message().find("offset " + std::to_string(next)), std::string::npos)
      << corrupt.status().ToString();
  std::filesystem::remove(path);
  EXPECT_FALSE(log.Size().ok());
}

std::string LeaseJson(const std::string& name, const std::string& holder, int transitions,
                      const std::string& resource_version = "") {
  return R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":")" + name +
         "\"" +
         (resource_version.empty() ? "" : R"(,"resourceVersion":")" + resource_version + "\"") +
         R"(},"spec":{"holderIdentity":")" + holder +
         R"(","leaseDurationSeconds":15,"leaseTransitions":)" + std::to_string(transitions) + "}}";
}

TEST(AuditLogTest, HoldsAKubeClientsWritesByItsUserAgentWithinMoments) {
  const TestCluster& cluster = TestCluster::Get();
  ASSERT_FALSE(cluster.audit_log.empty()) << "the cluster's env names no audit log";
  AuditLog log = AuditLog::OfTestCluster();
  ScopedNamespace ns("it-audit");
  auto start = log.Size();
  ASSERT_TRUE(start.ok()) << start.status().ToString();

  kube::ClientOptions options;
  options.user_agent = "pagoda-audit-test/" + UniqueName("agent");
  auto client = kube::KubeClient::Connect(cluster.Admin(), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto ours = [&](const AuditEvent& e) { return e.user_agent == options.user_agent; };

  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/" + ns.name() + "/leases";
  const auto before = std::chrono::system_clock::now();
  auto created = (*client)->Post(leases, Json(LeaseJson("holder", "replica-a", 0)));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const auto written = std::chrono::steady_clock::now();
  auto event = log.WaitFor(
      *start, [&](const AuditEvent& e) { return ours(e) && e.verb == "create"; },
      milliseconds(5000));
  const auto delay =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - written);
  ASSERT_TRUE(event.has_value()) << "no event of " << options.user_agent << " in " << log.path();
  std::cout << "the create was in the audit log " << delay.count() << " ms after its answer\n";
  RecordProperty("audit_delay_ms", static_cast<int>(delay.count()));
  EXPECT_LT(delay, milliseconds(2000));
  EXPECT_EQ(event->stage, "ResponseComplete");
  EXPECT_EQ(event->username, "kubernetes-admin");
  EXPECT_EQ(event->resource, "leases");
  EXPECT_EQ(event->api_group, "coordination.k8s.io");
  EXPECT_EQ(event->ns, ns.name());
  EXPECT_EQ(event->name, "holder");
  EXPECT_EQ(event->code, 201);
  ASSERT_TRUE(event->response_lease.has_value()) << event->ToString();
  EXPECT_EQ(event->response_lease->holder_identity, "replica-a");
  EXPECT_EQ(event->response_lease->lease_transitions, 0);
  // The server's clock and this one are the machine's.
  const int64_t before_ms =
      std::chrono::duration_cast<milliseconds>(before.time_since_epoch()).count();
  EXPECT_GE(event->received_ms(), before_ms - 1000) << event->ToString();
  EXPECT_LE(event->received_ms(), before_ms + 10000) << event->ToString();
  EXPECT_GE(event->stage_us, event->received_us);

  // Taken over: the holder changes by an update of the version read, and a
  // read of it is not in the log; a ConfigMap is, at level Metadata.
  const std::string version = (*created)["metadata"]["resourceVersion"].GetString();
  auto updated =
      (*client)->Put(leases + "/holder", Json(LeaseJson("holder", "replica-b", 1, version)));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  ASSERT_TRUE((*client)->Get(leases + "/holder").ok());
  const std::string configmaps = "/api/v1/namespaces/" + ns.name() + "/configmaps";
  ASSERT_TRUE(
      (*client)
          ->Post(configmaps,
                 Json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"files"}})"))
          .ok());
  ASSERT_TRUE(log.WaitFor(
                     *start,
                     [&](const AuditEvent& e) { return ours(e) && e.resource == "configmaps"; },
                     milliseconds(5000))
                  .has_value());
  auto events = log.Read(*start);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  std::vector<AuditEvent> mine;
  for (const AuditEvent& e : *events) {
    if (ours(e)) mine.push_back(e);
  }
  ASSERT_EQ(mine.size(), 3u);
  EXPECT_EQ(mine[0].verb, "create");
  EXPECT_EQ(mine[1].verb, "update") << mine[1].ToString();
  EXPECT_EQ(mine[1].name, "holder");
  EXPECT_EQ(mine[1].code, 200);
  ASSERT_TRUE(mine[1].request_lease.has_value()) << mine[1].ToString();
  EXPECT_EQ(mine[1].request_lease->holder_identity, "replica-b");
  ASSERT_TRUE(mine[1].response_lease.has_value()) << mine[1].ToString();
  EXPECT_EQ(mine[1].response_lease->holder_identity, "replica-b");
  EXPECT_EQ(mine[1].response_lease->lease_transitions, 1);
  EXPECT_LE(mine[0].stage_us, mine[1].received_us);
  EXPECT_EQ(mine[2].verb, "create");
  EXPECT_EQ(mine[2].resource, "configmaps");
  EXPECT_EQ(mine[2].name, "files");
  EXPECT_EQ(mine[2].code, 201);
  EXPECT_FALSE(mine[2].request_lease.has_value());
}

}  // namespace
}  // namespace pagoda::testing

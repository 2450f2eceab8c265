// Execute's handling of the API server's answers, with a transport that
// answers by path. What it writes on a real API server is proven by the
// integration tests.
#include "apply/apply.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace pagoda::apply {
namespace {

using namespace std::chrono_literals;

constexpr const char* kCoreDiscovery = R"({"kind":"APIGroupDiscoveryList","items":[{"metadata":{},
  "versions":[{"version":"v1","resources":[
    {"resource":"namespaces","responseKind":{"kind":"Namespace"},"scope":"Cluster","verbs":["patch"]},
    {"resource":"services","responseKind":{"kind":"Service"},"scope":"Namespaced","verbs":["patch"]}]}]}]})";
constexpr const char* kRefusal =
    R"({"kind":"Status","code":403,"message":"services \"prod\" is forbidden: ValidatingAdmissionPolicy 'pagoda-tenancy' with binding 'pagoda-tenancy' denied request: rule pagoda-namespace: namespace shop is not labelled app.kubernetes.io/managed-by=pagoda"})";

// Answers each request with `answer(method, path)`; discovery by itself.
class RoutedTransport final : public kube::HttpTransport {
 public:
  using Answer = std::function<kube::HttpResponse(const std::string& method, const std::string&)>;
  RoutedTransport(Answer answer, std::vector<std::string>* log)
      : answer_(std::move(answer)), log_(log) {}
  Result<kube::HttpResponse> Do(const kube::HttpRequest& request) override {
    const std::string path = request.url.substr(std::string("https://api.test").size());
    kube::HttpResponse response;
    response.status = 200;
    if (path == "/api") {
      response.body = kCoreDiscovery;
    } else if (path == "/apis") {
      response.body = R"({"kind":"APIGroupDiscoveryList","items":[]})";
    } else {
      log_->push_back(request.method + " " + path.substr(0, path.find('?')));
      response = answer_(request.method, path);
    }
    return response;
  }

 private:
  Answer answer_;
  std::vector<std::string>* log_;
};

kube::HttpResponse Reply(long status, std::string body) {
  kube::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::unique_ptr<kube::KubeClient> Client(RoutedTransport::Answer answer,
                                         std::vector<std::string>* log, FakeClock* clock) {
  kube::Credentials creds;
  creds.server = "https://api.test";
  kube::ClientOptions options;
  options.qps = 0;
  options.clock = clock;
  options.transport_factory = [answer, log]() -> Result<std::unique_ptr<kube::HttpTransport>> {
    return std::unique_ptr<kube::HttpTransport>(new RoutedTransport(answer, log));
  };
  return std::move(kube::KubeClient::Connect(creds, options)).value();
}

diff::PlannedChange Change(diff::Action action, std::string kind, std::string ns,
                           std::string name) {
  diff::PlannedChange c;
  c.action = action;
  c.key = {"", kind, ns, name};
  c.api_version = "v1";
  c.desired =
      std::make_shared<const std::string>(R"({"apiVersion":"v1","kind":")" + kind + R"("})");
  return c;
}

// A plan that adopts Namespace shop (its labels change) and then writes a
// Service in it; `namespace_action` stands for how the run wrote shop.
diff::Plan AdoptThenWrite(diff::Action namespace_action) {
  diff::Plan plan;
  plan.changes.push_back(Change(namespace_action, "Namespace", "", "shop"));
  plan.changes.push_back(Change(diff::Action::kUpdate, "Service", "shop", "prod"));
  return plan;
}

// Admission refuses the Service `refusals` times, then lets it through.
RoutedTransport::Answer RefuseServiceTimes(int* refusals) {
  return [refusals](const std::string&, const std::string& path) {
    if (path.find("/services/") != std::string::npos && *refusals > 0) {
      --*refusals;
      return Reply(403, kRefusal);
    }
    return Reply(200, "{}");
  };
}

TEST(ExecuteTest, AWriteRefusedBeforeAdmissionSawTheNamespacesNewLabelsIsRetried) {
  for (diff::Action ns_action :
       {diff::Action::kAdopt, diff::Action::kUpdate, diff::Action::kCreate}) {
    int refusals = 3;
    std::vector<std::string> log;
    FakeClock clock;
    auto client = Client(RefuseServiceTimes(&refusals), &log, &clock);
    ExecuteResult r = Execute(*client, AdoptThenWrite(ns_action), {.clock = &clock});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(log, (std::vector<std::string>{"PATCH /api/v1/namespaces/shop",
                                             "PATCH /api/v1/namespaces/shop/services/prod",
                                             "PATCH /api/v1/namespaces/shop/services/prod",
                                             "PATCH /api/v1/namespaces/shop/services/prod",
                                             "PATCH /api/v1/namespaces/shop/services/prod"}));
    EXPECT_EQ(r.changes.entries.back().action, ChangeAction::kConfigured);
    EXPECT_GT(clock.slept(), 0ns);
    EXPECT_LT(clock.slept(), kLabelsSettle);
  }
}

TEST(ExecuteTest, TheRefusalIsFinalInANamespaceThisRunDidNotWrite) {
  int refusals = 1;
  std::vector<std::string> log;
  FakeClock clock;
  auto client = Client(RefuseServiceTimes(&refusals), &log, &clock);
  ExecuteResult r = Execute(*client, AdoptThenWrite(diff::Action::kUnchanged), {.clock = &clock});
  EXPECT_EQ(r.status.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(r.status.message().find("rule pagoda-namespace"), std::string::npos);
  EXPECT_EQ(log, std::vector<std::string>{"PATCH /api/v1/namespaces/shop/services/prod"});
  EXPECT_EQ(clock.slept(), 0ns);
}

TEST(ExecuteTest, AnAdmissionThatKeepsRefusingIsGivenUpOnAfterTheBound) {
  int refusals = 1'000'000;
  std::vector<std::string> log;
  FakeClock clock;
  auto client = Client(RefuseServiceTimes(&refusals), &log, &clock);
  ExecuteResult r = Execute(*client, AdoptThenWrite(diff::Action::kAdopt), {.clock = &clock});
  EXPECT_EQ(r.status.code(), Status::Code::kPermissionDenied);
  EXPECT_GE(clock.slept(), kLabelsSettle - 1s);
  EXPECT_LE(clock.slept(), kLabelsSettle + 1s);
  EXPECT_LT(log.size(), 25u);
  EXPECT_EQ(r.changes.entries.size(), 1u);  // the Namespace, and nothing after the failure
}

TEST(ExecuteTest, OtherRefusalsInAWrittenNamespaceAreNotRetried) {
  std::vector<std::string> log;
  FakeClock clock;
  auto client = Client(
      [](const std::string&, const std::string& path) {
        if (path.find("/services/") == std::string::npos) return Reply(200, "{}");
        return Reply(
            403,
            R"({"kind":"Status","code":403,"message":"services \"prod\" is forbidden: ValidatingAdmissionPolicy 'pagoda-tenancy' denied request: rule reserved-namespaces: no"})");
      },
      &log, &clock);
  ExecuteResult r = Execute(*client, AdoptThenWrite(diff::Action::kAdopt), {.clock = &clock});
  EXPECT_EQ(r.status.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(clock.slept(), 0ns);
}

}  // namespace
}  // namespace pagoda::apply

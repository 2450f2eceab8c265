// spec.release.gates: parsing, and checking against the daemon config's endpoints.
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

using testing::BaseRepo;
using testing::kEnvFile;

// prod with `gates` (lines from 11 on) under its release.
std::map<std::string, std::string> Gated(const std::string& gates) {
  auto files = BaseRepo();
  std::string& env = files[kEnvFile];
  env.replace(env.find("    batches: 2\n"), 15, "    batches: 2\n    gates:\n" + gates);
  return files;
}

Repository Load(const std::map<std::string, std::string>& files, bool daemon = false) {
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  if (daemon) {
    options.gate_webhooks = std::vector<std::string>{"smoke"};
    options.gate_prometheus = false;
  }
  return LoadRepository(source, options);
}

std::string Errors(const std::map<std::string, std::string>& files, bool daemon = false) {
  std::string out;
  for (const Diagnostic& d : Load(files, daemon).AllDiagnostics()) out += d.ToString() + "\n";
  return out;
}

constexpr char kTwoGates[] =
    "      - name: success-rate\n"
    "        prometheus: {query: 'sum(up{namespace=\"{{namespace}}\"})', successCondition: "
    "'result[0] >= 0.99'}\n"
    "        initialDelay: 1m\n"
    "        interval: 10s\n"
    "        count: 3\n"
    "        failureLimit: 1\n"
    "      - {name: smoke, webhook: smoke}\n";

TEST(Gates, AreReadWithTheirDefaults) {
  Repository repo = Load(Gated(kTwoGates));
  ASSERT_TRUE(repo.ok()) << Errors(Gated(kTwoGates));
  const auto& gates = repo.apps.at(0).model().environments.at(0).release.gates;
  ASSERT_EQ(gates.size(), 2u);
  EXPECT_EQ(gates[0].name, "success-rate");
  EXPECT_EQ(gates[0].kind, policy::GateKind::kPrometheus);
  EXPECT_EQ(gates[0].query, "sum(up{namespace=\"{{namespace}}\"})");
  EXPECT_EQ(gates[0].initial_delay_ms, 60'000);
  EXPECT_EQ(gates[0].condition.ToString(), ">= 0.99");
  EXPECT_EQ(gates[0].interval_ms, 10'000);
  EXPECT_EQ(gates[0].count, 3);
  EXPECT_EQ(gates[0].failure_limit, 1);
  EXPECT_EQ(gates[0].line, 12);
  EXPECT_EQ(gates[1].kind, policy::GateKind::kWebhook);
  EXPECT_EQ(gates[1].webhook, "smoke");
  EXPECT_EQ(gates[1].interval_ms, 30'000);
  EXPECT_EQ(gates[1].count, 1);
  EXPECT_EQ(gates[1].failure_limit, 0);
}

TEST(Gates, EachMistakeNamesItsLineAndField) {
  EXPECT_EQ(
      Errors(Gated(
          "      - {name: g, webhook: a, prometheus: {query: up, successCondition: '> 1'}}\n")),
      "apps/shop/envs/prod.yaml:12:9: spec.release.gates[0]: a gate is either prometheus: "
      "{query, successCondition} or webhook: NAME\n");
  EXPECT_EQ(Errors(Gated("      - {name: g}\n")),
            "apps/shop/envs/prod.yaml:12:9: spec.release.gates[0]: a gate is either prometheus: "
            "{query, successCondition} or webhook: NAME\n");
  const std::string bad =
      Errors(Gated("      - {name: g, prometheus: {query: up, successCondition: '0.99'}}\n"));
  EXPECT_NE(
      bad.find(
          "prod.yaml:12:61: spec.release.gates[0].prometheus.successCondition: \"0.99\" is not "
          "a condition"),
      std::string::npos)
      << bad;
  EXPECT_EQ(Errors(Gated("      - {name: g, webhook: a}\n      - {name: g, webhook: b}\n")),
            "apps/shop/envs/prod.yaml:13:9: spec.release.gates[1].name: gate \"g\" is already "
            "defined at line 12\n");
  EXPECT_EQ(Errors(Gated("      - {name: g, webhook: a, interval: 500ms}\n")),
            "apps/shop/envs/prod.yaml:12:41: spec.release.gates[0].interval: must be from 1s to "
            "1h\n");
  EXPECT_NE(Errors(Gated("      - {name: g, webhook: a, count: 0}\n"))
                .find("spec.release.gates[0].count: 0 is out of range: use 1 to 100"),
            std::string::npos);
  EXPECT_NE(Errors(Gated("      - {name: g, prometheus: {query: 'up{pod=\"{{pod}}\"}', "
                         "successCondition: '> 0'}}\n"))
                .find("spec.release.gates[0].prometheus.query: {{pod}} is not one of "
                      "{{revision}}, {{app}}, {{env}}, {{namespace}}"),
            std::string::npos);
  EXPECT_NE(Errors(Gated("      - {name: G, webhook: a}\n")).find("\"G\" is not a valid name"),
            std::string::npos);
  EXPECT_NE(Errors(Gated("      - {name: g, webhook: a, retries: 2}\n"))
                .find("spec.release.gates[0].retries: unknown field"),
            std::string::npos);
}

TEST(Gates, TheDaemonConfigSaysWhatTheyMayAsk) {
  EXPECT_EQ(Errors(Gated(kTwoGates), true),
            "apps/shop/envs/prod.yaml:12:9: spec.release.gates[0].prometheus: the daemon config "
            "names no Prometheus to ask (gates.prometheus)\n");
  EXPECT_EQ(Errors(Gated("      - {name: g, webhook: deploy-bot}\n"), true),
            "apps/shop/envs/prod.yaml:12:9: spec.release.gates[0].webhook: \"deploy-bot\" is not "
            "a webhook of the daemon config (gates.webhooks: smoke)\n");
  EXPECT_EQ(Errors(Gated("      - {name: g, webhook: smoke}\n"), true), "");
}

TEST(Gates, OneBatchHasNoneToAskBetween) {
  auto files = Gated("      - {name: g, webhook: smoke}\n");
  std::string& env = files[kEnvFile];
  env.replace(env.find("batches: 2"), 10, "batches: 1");
  Repository repo = Load(files);
  EXPECT_TRUE(repo.ok());
  EXPECT_EQ(
      Errors(files),
      "apps/shop/envs/prod.yaml:12:9: warning: spec.release.gates[0]: gates are asked between "
      "batches, and a release of 1 batch has none\n");
}

}  // namespace
}  // namespace pagoda::manifest

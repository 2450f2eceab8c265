// Gates between batches: after each batch of a release but the last, every
// gate of the environment is checked every `interval` until `count` checks
// have passed; more than `failure_limit` failed checks fail the batch. A
// check is a Prometheus query whose first value must meet a condition
// (`>= 0.99`), or a webhook (the daemon config's, by name) that must answer
// 2xx. This says what a gate is and judges answers; asking is the daemon's.
// Pure: no network, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pagoda::policy {

enum class Comparison { kGreaterOrEqual, kGreater, kLessOrEqual, kLess, kEqual, kNotEqual };

// "result >= 0.99": the query's first value compared with a number.
struct Condition {
  Comparison op = Comparison::kGreaterOrEqual;
  double threshold = 0;
  bool Holds(double value) const;
  std::string ToString() const;  // ">= 0.99"
};

// ">= 0.99", "<5", "== 1": an operator and a finite number, after
// "result[0]" or "result" or nothing ("result[0] >= 0.99").
Result<Condition> ParseCondition(std::string_view text);

// What a query may name: {{revision}}, {{app}}, {{env}}, {{namespace}}.
struct QueryVars {
  std::string revision, app, env, namespace_name;
};
// `query` with its placeholders filled in.
std::string ExpandQuery(std::string_view query, const QueryVars& vars);
// InvalidArgument naming the first placeholder that is none of those.
Status CheckQuery(std::string_view query);

enum class GateKind { kPrometheus, kWebhook };

struct Gate {
  std::string name;
  int line = 0, column = 0;  // where its file defines it
  GateKind kind = GateKind::kPrometheus;
  std::string query;    // kPrometheus: PromQL
  Condition condition;  // kPrometheus
  std::string webhook;  // kWebhook: a name under gates.webhooks in the daemon config
  int64_t interval_ms = 30'000;
  int64_t initial_delay_ms = 0;  // before the first check
  int count = 1;
  int failure_limit = 0;

  friend bool operator==(const Gate& a, const Gate& b) {
    return a.name == b.name && a.kind == b.kind && a.query == b.query &&
           a.condition.op == b.condition.op && a.condition.threshold == b.condition.threshold &&
           a.webhook == b.webhook && a.interval_ms == b.interval_ms &&
           a.initial_delay_ms == b.initial_delay_ms && a.count == b.count &&
           a.failure_limit == b.failure_limit;
  }
};

// The first value of a Prometheus instant query's answer (the JSON of
// GET /api/v1/query): a vector's first sample or a scalar. An error that says
// why when the query failed, found nothing, or the value is not a number.
Result<double> FirstValue(std::string_view answer);

// Where a gate's checks stand. An inconclusive check (a query that found
// no data) counts neither way: the gate is asked again.
struct GateTally {
  int passed = 0;
  int failed = 0;
  int inconclusive = 0;
  std::vector<std::string> said;  // what each check said: "0.995 >= 0.99", "HTTP 503"
};
enum class GateVerdict { kPending, kPassed, kFailed };
enum class CheckResult { kPassed, kFailed, kInconclusive };
GateVerdict Judge(const Gate& gate, const GateTally& tally);

}  // namespace pagoda::policy

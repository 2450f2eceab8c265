// Gates between batches, as the loop asks them: every gate of the
// environment is checked every interval until it passes or fails; all
// passed, the order goes on; one failed, the batch has failed.
#include <spdlog/spdlog.h>

#include "daemon/loop_internal.h"

namespace pagoda::daemon {

void Reconciler::AskGate(ActiveOrder& a, size_t gate) {
  GateCheck check;
  check.release = a.record.id;
  check.batch = a.gated_batch;
  check.gate = gate;
  check.spec = a.gates[gate];
  check.spec.query =
      policy::ExpandQuery(check.spec.query, {a.revision, a.record.app, a.record.env, a.record.app});
  check.timeout_ms = options_.gate_timeout_ms;
  check.app = a.record.app;
  check.env = a.record.env;
  check.revision = a.revision;
  if (check.spec.kind == policy::GateKind::kPrometheus) {
    check.endpoint = options_.gate_prometheus;
  } else if (auto it = options_.gate_webhooks.find(check.spec.webhook);
             it != options_.gate_webhooks.end()) {
    check.endpoint = it->second.url;
    check.secret = it->second.secret;
    check.retries = it->second.retries;
  }
  a.asking[gate] = true;
  if (check.endpoint.empty()) {
    GateAnswered(check, {policy::CheckResult::kFailed,
                         check.spec.kind == policy::GateKind::kPrometheus
                             ? "the daemon config names no Prometheus (gates.prometheus)"
                             : "the daemon config has no webhook " + check.spec.webhook});
  } else if (options_.start_gate_check) {
    options_.start_gate_check(std::move(check));
  } else if (options_.gate_asker != nullptr) {
    GateAnswered(check, options_.gate_asker->Ask(check));
  } else {
    GateAnswered(check, {policy::CheckResult::kFailed, "nothing here asks gates"});
  }
}

void Reconciler::GateAnswered(const GateCheck& check, const GateAnswer& answer) {
  ActiveOrder* a = FindOrder(check.release);
  if (a == nullptr || a->gated_batch != check.batch || check.gate >= a->tallies.size()) return;
  policy::GateTally& tally = a->tallies[check.gate];
  switch (answer.result) {
    case policy::CheckResult::kPassed:
      ++tally.passed;
      break;
    case policy::CheckResult::kFailed:
      ++tally.failed;
      break;
    case policy::CheckResult::kInconclusive:
      ++tally.inconclusive;
      break;
  }
  tally.said.push_back(answer.said);
  a->asking[check.gate] = false;
  a->next_check[check.gate] =
      clock_.Now() + std::chrono::milliseconds(a->gates[check.gate].interval_ms);
  a->next = clock_.Now();
  static constexpr const char* kResults[] = {"passed", "failed", "inconclusive"};
  spdlog::info("release={} app={} env={} batch {} gate {} check {}: {}", check.release, check.app,
               check.env, check.batch, check.spec.name, kResults[static_cast<int>(answer.result)],
               answer.said);
}

namespace {

// What a gate's checks said, oldest first: the last ten, with how many
// came before them.
std::string Measurements(const policy::GateTally& t) {
  constexpr size_t kShown = 10;
  std::string out;
  const size_t from = t.said.size() > kShown ? t.said.size() - kShown : 0;
  if (from > 0) out = std::to_string(from) + " earlier; ";
  for (size_t i = from; i < t.said.size(); ++i) out += (i > from ? "; " : "") + t.said[i];
  return out;
}

std::string Checks(int n) { return std::to_string(n) + (n == 1 ? " check" : " checks"); }

}  // namespace

bool Reconciler::StepGates(ActiveOrder& a) {
  const auto now = clock_.Now();
  const int batch = static_cast<int>(a.record.batches.size());
  if (a.gated_batch != batch) {
    a.gated_batch = batch;
    a.gated_since = now;
    a.tallies.assign(a.gates.size(), {});
    a.next_check.assign(a.gates.size(), now);
    a.asking.assign(a.gates.size(), false);
    for (size_t i = 0; i < a.gates.size(); ++i) {
      a.next_check[i] = now + std::chrono::milliseconds(a.gates[i].initial_delay_ms);
    }
  }
  for (size_t i = 0; i < a.gates.size(); ++i) {
    if (!a.asking[i] && policy::Judge(a.gates[i], a.tallies[i]) == policy::GateVerdict::kPending &&
        a.next_check[i] <= now) {
      AskGate(a, i);
    }
  }
  // Checks without a verdict (no data) are asked again, for a batch's
  // timeout at most.
  const bool out_of_time = now - a.gated_since > std::chrono::milliseconds(a.gate_timeout_ms);
  std::vector<std::string> said;
  std::string failed;
  bool pending = false;
  a.next =
      a.gated_since + std::chrono::milliseconds(a.gate_timeout_ms) + std::chrono::milliseconds(1);
  for (size_t i = 0; i < a.gates.size(); ++i) {
    const policy::Gate& g = a.gates[i];
    const policy::GateTally& t = a.tallies[i];
    switch (policy::Judge(g, t)) {
      case policy::GateVerdict::kPassed:
        said.push_back(g.name + " passed after " + Checks(t.passed + t.failed + t.inconclusive) +
                       ": " + Measurements(t));
        break;
      case policy::GateVerdict::kFailed:
        said.push_back(g.name + " failed: " + std::to_string(t.failed) + " of " +
                       Checks(t.passed + t.failed + t.inconclusive) +
                       " failed: " + Measurements(t));
        if (failed.empty()) failed = "batch " + std::to_string(batch) + ": gate " + said.back();
        break;
      case policy::GateVerdict::kPending:
        if (out_of_time) {
          said.push_back(g.name + " failed: no verdict within the batch timeout of " +
                         FormatDurationMs(a.gate_timeout_ms) + " (" + std::to_string(t.passed) +
                         " of " + std::to_string(g.count) + " passed)" +
                         (t.said.empty() ? "" : ": " + Measurements(t)));
          if (failed.empty()) failed = "batch " + std::to_string(batch) + ": gate " + said.back();
          break;
        }
        pending = true;
        if (!a.asking[i]) a.next = std::min(a.next, a.next_check[i]);
        break;
    }
  }
  if (failed.empty() && pending) return false;
  a.record.batches.back().gates = said;
  if (failed.empty()) {
    a.order->PassGate();
  } else {
    a.order->FailGate(failed);
    spdlog::warn("release={} app={} env={} {}", a.record.id, a.record.app, a.record.env, failed);
  }
  a.next = now;
  return true;
}

}  // namespace pagoda::daemon

// What a gate adds to a batch beyond its own interval: the time from the
// loop handing a check to the gate worker to the answer running on the loop
// thread — the real worker, the real HTTP asker (libcurl), over loopback.
// The loop itself goes on at the step after the answer (GateAnswered()
// makes the order due at once), so this is the whole cost per check.
//
//   pagoda_gate_bench [--checks N] [--prometheus URL --query Q]
//
// A webhook (answering 204) is served on loopback by this program;
// --prometheus asks a real Prometheus as well (bench/gate starts one). The last lines, "RESULT
// key=value ...", are for scripts.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "daemon/gates.h"

namespace {

using namespace pagoda;
using Clock = std::chrono::steady_clock;

// Milliseconds of each check, from Ask() to the answer on the loop thread.
std::vector<double> Measure(daemon::GateCheck check, int n) {
  daemon::Inbox inbox;
  std::vector<double> ms;
  Clock::time_point asked;
  bool answered = false;
  std::string said;
  auto transport = kube::NewCurlTransport({});
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    std::exit(1);
  }
  daemon::GateWorker worker(
      daemon::NewHttpGateAsker(std::move(*transport)), inbox,
      [&](const daemon::GateCheck&, const daemon::GateAnswer& answer) {
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - asked).count());
        said = answer.said;
        answered = true;
      });
  for (int i = 0; i < n; ++i) {
    answered = false;
    asked = Clock::now();
    worker.Ask(check);
    while (!answered) {
      inbox.WaitUntil(Clock::now() + std::chrono::seconds(1));
      inbox.Drain();
    }
  }
  std::fprintf(stderr, "  the last check said: %s\n", said.c_str());
  return ms;
}

void Report(const std::string& kind, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<size_t>(q * (ms.size() - 1))]; };
  std::printf("%-22s checks=%zu p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", kind.c_str(),
              ms.size(), at(0.5), at(0.9), at(0.99), ms.back());
  std::printf("RESULT gate=%s checks=%zu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
              kind.c_str(), ms.size(), at(0.5), at(0.9), at(0.99), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("pagoda_gate_bench: the time a gate check adds to a batch");
  int checks = 200;
  std::string prometheus, query = "up";
  app.add_option("--checks", checks, "checks per kind")->check(CLI::PositiveNumber);
  app.add_option("--prometheus", prometheus, "a real Prometheus to query as well");
  app.add_option("--query", query, "its query");
  CLI11_PARSE(app, argc, argv);

  httplib::Server server;
  server.Post("/hook", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread listener([&] { server.listen_after_bind(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  daemon::GateCheck webhook;
  webhook.release = "r-000001";
  webhook.batch = 1;
  webhook.spec.name = webhook.spec.webhook = "smoke";
  webhook.spec.kind = policy::GateKind::kWebhook;
  webhook.endpoint = base + "/hook";
  webhook.app = "shop";
  webhook.env = "prod";
  webhook.revision = "7d9f8c2b1a";
  std::fprintf(stderr, "webhook on loopback\n");
  Report("webhook", Measure(webhook, checks));
  webhook.secret = "s3cret";
  std::fprintf(stderr, "signed webhook on loopback\n");
  Report("webhook-signed", Measure(webhook, checks));

  if (!prometheus.empty()) {
    daemon::GateCheck real = webhook;
    real.secret.clear();
    real.spec.kind = policy::GateKind::kPrometheus;
    real.endpoint = prometheus;
    real.spec.query = query;
    real.spec.condition = *policy::ParseCondition("> -1e300");
    std::fprintf(stderr, "Prometheus at %s, query %s\n", prometheus.c_str(), query.c_str());
    Report("prometheus", Measure(real, checks));
  }
  server.stop();
  listener.join();
  return 0;
}

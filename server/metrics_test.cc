#include "server/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace pagoda::server {
namespace {

// Parses `text` with the Prometheus client library's own parser (Debian's
// python3-prometheus-client) and returns what it read, one sample a line,
// or the parser's error.
std::string ParseWithPrometheus(const std::string& text) {
  char path[] = "/tmp/pagoda-metrics-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  std::string cmd = std::string("/usr/bin/python3 -c '") +
                    "import sys\n"
                    "from prometheus_client.parser import text_string_to_metric_families\n"
                    "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                    "  for s in f.samples:\n"
                    "    print(f.type, s.name, sorted(s.labels.items()), s.value)\n"
                    "' " +
                    path + " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = pclose(p);
    if (rc != 0) out = "PARSE FAILED: " + out;
  }
  unlink(path);
  return out;
}

TEST(RenderMetricsTest, RendersCountersGaugesAndHistogramsInTheTextFormat) {
  prometheus::Registry r;
  auto& things = prometheus::BuildCounter().Name("pagoda_things_total").Help("Things.").Register(r);
  auto& level = prometheus::BuildGauge().Name("pagoda_level").Help("A level.").Register(r);
  auto& seconds =
      prometheus::BuildHistogram().Name("pagoda_seconds").Help("Durations.").Register(r);
  prometheus::BuildCounter().Name("pagoda_unused_total").Help("No series yet.").Register(r);
  things.Add({{"kind", "b"}}).Increment();
  things.Add({{"kind", "a"}}).Increment(2);
  things.Add({{"kind", "a"}}).Increment();
  level.Add({}).Set(2.5);
  auto& h = seconds.Add({}, prometheus::Histogram::BucketBoundaries{0.1, 1, 10});
  h.Observe(0.05);
  h.Observe(0.1);  // a bucket holds what is less than or equal to its bound
  h.Observe(20);
  EXPECT_EQ(RenderMetrics(r),
            "# HELP pagoda_level A level.\n"
            "# TYPE pagoda_level gauge\n"
            "pagoda_level 2.5\n"
            "# HELP pagoda_seconds Durations.\n"
            "# TYPE pagoda_seconds histogram\n"
            "pagoda_seconds_count 3\n"
            "pagoda_seconds_sum 20.15\n"
            "pagoda_seconds_bucket{le=\"0.1\"} 2\n"
            "pagoda_seconds_bucket{le=\"1\"} 2\n"
            "pagoda_seconds_bucket{le=\"10\"} 2\n"
            "pagoda_seconds_bucket{le=\"+Inf\"} 3\n"
            "# HELP pagoda_things_total Things.\n"
            "# TYPE pagoda_things_total counter\n"
            "pagoda_things_total{kind=\"a\"} 3\n"
            "pagoda_things_total{kind=\"b\"} 1\n");
}

TEST(RenderMetricsTest, OrderDoesNotDependOnWhenFamiliesAndSeriesWereMade) {
  auto fill = [](prometheus::Registry* r, bool reversed) {
    auto& c = prometheus::BuildCounter().Name("c_total").Help("C.").Register(*r);
    auto& g = prometheus::BuildGauge().Name("b").Help("B.").Register(*r);
    std::vector<std::string> servers = {"https://a:6443", "https://b:6443", "https://c:6443"};
    if (reversed) std::reverse(servers.begin(), servers.end());
    for (const auto& s : servers) {
      for (const char* verb : {"LIST", "GET", "PATCH"}) c.Add({{"server", s}, {"verb", verb}});
      g.Add({{"server", s}}).Set(1);
    }
  };
  prometheus::Registry one, other;
  fill(&one, false);
  fill(&other, true);
  const std::string text = RenderMetrics(one);
  EXPECT_EQ(text, RenderMetrics(other));
  EXPECT_LT(text.find("# TYPE b gauge"), text.find("# TYPE c_total counter")) << text;
  EXPECT_LT(text.find(R"(c_total{server="https://a:6443",verb="GET"})"),
            text.find(R"(c_total{server="https://a:6443",verb="LIST"})"))
      << text;
  EXPECT_LT(text.find(R"(c_total{server="https://a:6443",verb="PATCH"})"),
            text.find(R"(c_total{server="https://b:6443",verb="GET"})"))
      << text;
}

TEST(RenderMetricsTest, EscapesLabelValuesAndHelpAndParsesWithPrometheus) {
  prometheus::Registry r;
  auto& odd = prometheus::BuildCounter()
                  .Name("pagoda_odd_total")
                  .Help("Back\\slash and\nnewline.")
                  .Register(r);
  auto& h = prometheus::BuildHistogram().Name("pagoda_h").Help("H.").Register(r);
  odd.Add({{"app", "quote\"d"}, {"env", "back\\slash\nnew"}}).Increment(4);
  h.Add({{"env", "prod"}}, prometheus::Histogram::BucketBoundaries{0.005, 0.25}).Observe(0.001);
  const std::string text = RenderMetrics(r);
  EXPECT_NE(text.find("# HELP pagoda_odd_total Back\\\\slash and\\nnewline.\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(pagoda_odd_total{app="quote\"d",env="back\\slash\nnew"} 4)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pagoda_h_bucket{env=\"prod\",le=\"0.005\"} 1\n"), std::string::npos) << text;
  const std::string parsed = ParseWithPrometheus(text);
  EXPECT_EQ(parsed.find("PARSE FAILED"), std::string::npos) << parsed;
  // The parser gives the help and the label values back unescaped.
  EXPECT_NE(parsed.find(R"(('app', 'quote"d'), ('env', 'back\\slash\nnew')] 4.0)"),
            std::string::npos)
      << parsed;
  EXPECT_NE(parsed.find("histogram pagoda_h_bucket [('env', 'prod'), ('le', '+Inf')] 1.0"),
            std::string::npos)
      << parsed;
  EXPECT_NE(parsed.find("histogram pagoda_h_count [('env', 'prod')] 1.0"), std::string::npos)
      << parsed;
}

// The values the daemon writes, as prometheus-cpp formats them: a change of
// library version that wrote them otherwise shows here first.
TEST(RenderMetricsTest, WritesCountsWholeAndTimesToTheMillisecond) {
  prometheus::Registry r;
  auto& g = prometheus::BuildGauge().Name("v").Help("V.").Register(r);
  g.Add({{"k", "a_count"}}).Set(3);
  g.Add({{"k", "b_negative"}}).Set(-2);
  g.Add({{"k", "c_tenth"}}).Set(0.1);
  g.Add({{"k", "d_unix_ms"}}).Set(1712345678.123);
  g.Add({{"k", "e_large"}}).Set(123456789012.0);
  g.Add({{"k", "f_third"}}).Set(1.0 / 3);
  g.Add({{"k", "g_inf"}}).Set(1.0 / 0.0);
  EXPECT_EQ(RenderMetrics(r),
            "# HELP v V.\n"
            "# TYPE v gauge\n"
            "v{k=\"a_count\"} 3\n"
            "v{k=\"b_negative\"} -2\n"
            "v{k=\"c_tenth\"} 0.1\n"
            "v{k=\"d_unix_ms\"} 1712345678.123\n"
            "v{k=\"e_large\"} 123456789012\n"
            "v{k=\"f_third\"} 0.3333333333333333\n"
            "v{k=\"g_inf\"} +Inf\n");
  const std::string parsed = ParseWithPrometheus(RenderMetrics(r));
  EXPECT_NE(parsed.find("gauge v [('k', 'd_unix_ms')] 1712345678.123\n"), std::string::npos)
      << parsed;
}

}  // namespace
}  // namespace pagoda::server

#include "server/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

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

TEST(MetricRegistryTest, RendersCountersGaugesAndHistogramsInTheTextFormat) {
  MetricRegistry r;
  ASSERT_TRUE(r.Declare("pagoda_things_total", MetricType::kCounter, "Things.", {"kind"}));
  ASSERT_TRUE(r.Declare("pagoda_level", MetricType::kGauge, "A level."));
  ASSERT_TRUE(r.Declare("pagoda_seconds", MetricType::kHistogram, "Durations.", {}, {0.1, 1, 10}));
  r.Add("pagoda_things_total", {"b"});
  r.Add("pagoda_things_total", {"a"}, 2);
  r.Add("pagoda_things_total", {"a"});
  r.Set("pagoda_level", {}, 2.5);
  r.Observe("pagoda_seconds", {}, 0.05);
  r.Observe("pagoda_seconds", {}, 0.5);
  r.Observe("pagoda_seconds", {}, 20);
  EXPECT_EQ(r.Render(),
            "# HELP pagoda_level A level.\n"
            "# TYPE pagoda_level gauge\n"
            "pagoda_level 2.5\n"
            "# HELP pagoda_seconds Durations.\n"
            "# TYPE pagoda_seconds histogram\n"
            "pagoda_seconds_bucket{le=\"0.1\"} 1\n"
            "pagoda_seconds_bucket{le=\"1\"} 2\n"
            "pagoda_seconds_bucket{le=\"10\"} 2\n"
            "pagoda_seconds_bucket{le=\"+Inf\"} 3\n"
            "pagoda_seconds_sum 20.55\n"
            "pagoda_seconds_count 3\n"
            "# HELP pagoda_things_total Things.\n"
            "# TYPE pagoda_things_total counter\n"
            "pagoda_things_total{kind=\"a\"} 3\n"
            "pagoda_things_total{kind=\"b\"} 1\n");
}

TEST(MetricRegistryTest, EscapesLabelValuesAndHelpAndParsesWithPrometheus) {
  MetricRegistry r;
  ASSERT_TRUE(r.Declare("pagoda_odd_total", MetricType::kCounter, "Back\\slash and\nnewline.",
                        {"app", "env"}));
  ASSERT_TRUE(r.Declare("pagoda_h", MetricType::kHistogram, "H.", {"env"}, {0.005, 0.25}));
  r.Add("pagoda_odd_total", {"quote\"d", "back\\slash\nnew"}, 4);
  r.Observe("pagoda_h", {"prod"}, 0.001);
  const std::string text = r.Render();
  EXPECT_NE(text.find("# HELP pagoda_odd_total Back\\\\slash and\\nnewline.\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(pagoda_odd_total{app="quote\"d",env="back\\slash\nnew"} 4)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pagoda_h_bucket{env=\"prod\",le=\"0.005\"} 1\n"), std::string::npos) << text;
  const std::string parsed = ParseWithPrometheus(text);
  EXPECT_EQ(parsed.find("PARSE FAILED"), std::string::npos) << parsed;
  // The parser gives the label values back unescaped.
  EXPECT_NE(parsed.find(R"(('app', 'quote"d'), ('env', 'back\\slash\nnew')] 4.0)"),
            std::string::npos)
      << parsed;
  EXPECT_NE(parsed.find("histogram pagoda_h_bucket [('env', 'prod'), ('le', '+Inf')] 1.0"),
            std::string::npos)
      << parsed;
}

TEST(MetricRegistryTest, RefusesBadNamesAndIgnoresMisuse) {
  MetricRegistry r;
  EXPECT_FALSE(r.Declare("0bad", MetricType::kCounter, ""));
  EXPECT_FALSE(r.Declare("bad-name", MetricType::kCounter, ""));
  EXPECT_FALSE(r.Declare("ok", MetricType::kCounter, "", {"le"}));
  EXPECT_FALSE(r.Declare("ok", MetricType::kCounter, "", {"__x"}));
  EXPECT_FALSE(r.Declare("h", MetricType::kHistogram, "", {}, {1, 0.5}));
  EXPECT_FALSE(r.Declare("h", MetricType::kHistogram, "", {}, {}));
  ASSERT_TRUE(r.Declare("c_total", MetricType::kCounter, "C.", {"x"}));
  EXPECT_FALSE(r.Declare("c_total", MetricType::kGauge, "again"));
  r.Add("c_total", {"a", "b"});  // wrong number of labels
  r.Add("c_total", {"a"}, -1);   // counters never go down
  r.Add("missing", {});
  r.Set("c_total", {"a"}, 5);
  r.Set("c_total", {"a"}, 3);  // a counter set lower keeps its value
  EXPECT_EQ(r.Value("c_total", {"a"}), 5);
  EXPECT_EQ(r.Render(), "# HELP c_total C.\n# TYPE c_total counter\nc_total{x=\"a\"} 5\n");
}

TEST(MetricRegistryTest, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1.0 / 3), "0.33333333333333331");
  EXPECT_EQ(FormatMetricValue(1e300), "1e+300");
  EXPECT_EQ(FormatMetricValue(123456789.5), "123456789.5");
  EXPECT_EQ(FormatMetricValue(-2), "-2");
  EXPECT_EQ(FormatMetricValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatMetricValue(0.0 / 0.0), "NaN");
}

}  // namespace
}  // namespace pagoda::server

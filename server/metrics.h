// Metrics in the Prometheus text exposition format (version 0.0.4), as
// `GET /metrics` serves them: counters, gauges and histograms, each a family
// with a name, a help text and label names, and one series per set of label
// values.
//
// A small registry of our own: prometheus-cpp is not packaged for Debian 12,
// and the format is a few lines of text per series. Names are checked when a
// family is declared; label values and help texts are escaped as the format
// requires (backslash, double quote in label values, line feed). Output is
// deterministic: families by name, series by label values.
//
// Thread-safe. Recording into a family that was not declared, or with the
// wrong number of label values, is a programming error and is ignored (the
// scrape stays valid).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace pagoda::server {

enum class MetricType { kCounter, kGauge, kHistogram };

class MetricRegistry {
 public:
  // Declares a family. `buckets` (histograms only) are upper bounds in
  // increasing order; +Inf is implied. Returns false for an invalid or
  // already declared name, an invalid label name, or unsorted buckets.
  bool Declare(const std::string& name, MetricType type, const std::string& help,
               std::vector<std::string> label_names = {}, std::vector<double> buckets = {});

  // Counters: adds `delta` (>= 0).
  void Add(const std::string& name, const std::vector<std::string>& label_values, double delta = 1);
  // Gauges, and counters whose total is kept elsewhere (set to at least the
  // previous value: a counter never goes down).
  void Set(const std::string& name, const std::vector<std::string>& label_values, double value);
  // Gauges: forgets every series of the family (before setting the current ones).
  void Clear(const std::string& name);
  // Histograms: one observation.
  void Observe(const std::string& name, const std::vector<std::string>& label_values, double value);

  // The current value of a counter or gauge series; 0 when absent. For tests.
  double Value(const std::string& name, const std::vector<std::string>& label_values) const;

  // The text exposition of every family.
  std::string Render() const;

 private:
  struct Series {
    double value = 0;                   // counters and gauges
    std::vector<uint64_t> bucket_hits;  // histograms: per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    MetricType type;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> buckets;
    std::map<std::vector<std::string>, Series> series;
  };
  Series* Find(const std::string& name, const std::vector<std::string>& label_values,
               MetricType type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Escapes a label value for the text format.
std::string EscapeLabelValue(const std::string& value);
// Formats a sample value: integers without a fraction, +Inf, -Inf, NaN.
std::string FormatMetricValue(double value);

}  // namespace pagoda::server

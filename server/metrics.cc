#include "server/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace pagoda::server {
namespace {

// What the format asks of a HELP line: backslash and line feed escaped.
std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Families by name; series by their labels, which prometheus-cpp already
// gives in label-name order.
void Order(std::vector<prometheus::MetricFamily>* families) {
  std::sort(families->begin(), families->end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& f : *families) {
    std::sort(f.metric.begin(), f.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
}

}  // namespace

std::string RenderMetrics(const prometheus::Collectable& metrics) {
  std::vector<prometheus::MetricFamily> families = metrics.Collect();
  Order(&families);
  for (auto& f : families) f.help = EscapeHelp(f.help);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace pagoda::server

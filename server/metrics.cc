#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pagoda::server {
namespace {

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

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

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// {a="x",b="y"} with an optional extra label (le) last; "" when empty.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  if (!out.empty()) out += "}";
  return out;
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  // The shortest of 15 or 17 significant digits that reads back the same.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", value);
  if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

bool MetricRegistry::Declare(const std::string& name, MetricType type, const std::string& help,
                             std::vector<std::string> label_names, std::vector<double> buckets) {
  if (!ValidName(name, true)) return false;
  for (const auto& l : label_names) {
    if (!ValidName(l, false) || l.rfind("__", 0) == 0 || l == "le") return false;
  }
  if (type == MetricType::kHistogram) {
    if (buckets.empty() || !std::is_sorted(buckets.begin(), buckets.end()) ||
        std::adjacent_find(buckets.begin(), buckets.end()) != buckets.end()) {
      return false;
    }
  } else if (!buckets.empty()) {
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = families_.try_emplace(name);
  if (!inserted) return false;
  it->second.type = type;
  it->second.help = help;
  it->second.label_names = std::move(label_names);
  it->second.buckets = std::move(buckets);
  return true;
}

MetricRegistry::Series* MetricRegistry::Find(const std::string& name,
                                             const std::vector<std::string>& label_values,
                                             MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type != type ||
      label_values.size() != it->second.label_names.size()) {
    return nullptr;
  }
  Series& s = it->second.series[label_values];
  if (type == MetricType::kHistogram && s.bucket_hits.empty()) {
    s.bucket_hits.assign(it->second.buckets.size(), 0);
  }
  return &s;
}

void MetricRegistry::Add(const std::string& name, const std::vector<std::string>& label_values,
                         double delta) {
  if (!(delta >= 0)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (Series* s = Find(name, label_values, MetricType::kCounter)) s->value += delta;
}

void MetricRegistry::Set(const std::string& name, const std::vector<std::string>& label_values,
                         double value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  if (it->second.type == MetricType::kCounter) {
    if (Series* s = Find(name, label_values, MetricType::kCounter)) {
      s->value = std::max(s->value, value);
    }
  } else if (Series* s = Find(name, label_values, MetricType::kGauge)) {
    s->value = value;
  }
}

void MetricRegistry::Clear(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end() && it->second.type == MetricType::kGauge) it->second.series.clear();
}

void MetricRegistry::Observe(const std::string& name, const std::vector<std::string>& label_values,
                             double value) {
  if (std::isnan(value)) return;
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = Find(name, label_values, MetricType::kHistogram);
  if (s == nullptr) return;
  const auto& buckets = families_.at(name).buckets;
  auto at = std::lower_bound(buckets.begin(), buckets.end(), value) - buckets.begin();
  if (static_cast<size_t>(at) < buckets.size()) ++s->bucket_hits[at];
  ++s->count;
  s->sum += value;
}

double MetricRegistry::Value(const std::string& name,
                             const std::vector<std::string>& label_values) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(label_values);
  return s == it->second.series.end() ? 0 : s->second.value;
}

std::string MetricRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + TypeName(f.type) + "\n";
    for (const auto& [values, s] : f.series) {
      if (f.type != MetricType::kHistogram) {
        out += name + LabelSet(f.label_names, values) + " " + FormatMetricValue(s.value) + "\n";
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += s.bucket_hits[i];
        out += name + "_bucket" +
               LabelSet(f.label_names, values, "le", FormatMetricValue(f.buckets[i])) + " " +
               std::to_string(cumulative) + "\n";
      }
      out += name + "_bucket" + LabelSet(f.label_names, values, "le", "+Inf") + " " +
             std::to_string(s.count) + "\n";
      out +=
          name + "_sum" + LabelSet(f.label_names, values) + " " + FormatMetricValue(s.sum) + "\n";
      out +=
          name + "_count" + LabelSet(f.label_names, values) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace pagoda::server

// The Prometheus text exposition (format 0.0.4) of metrics kept in
// prometheus-cpp, as `GET /metrics` serves it.
//
// Callers declare their families on a prometheus::Registry (BuildCounter,
// BuildGauge, BuildHistogram) and record into its series; RenderMetrics turns
// what the registry holds into text with prometheus::TextSerializer. This
// module keeps no metrics of its own, never listens (http_server.h serves the
// text) and never pushes anywhere.
//
// On top of the serializer: output is deterministic, families by name and
// series by labels (prometheus-cpp collects counters, gauges and histograms
// apart, and series from a hash map), and help texts are escaped as the
// format requires (backslash, line feed), which prometheus-cpp leaves to the
// caller. What stays prometheus-cpp's: labels are written in name order
// (prometheus::Labels is a map), a histogram's _count and _sum come before its
// buckets, values have at most 16 significant digits, and a family that has no
// series yet is not written at all.
#pragma once

#include <prometheus/collectable.h>

#include <string>

namespace pagoda::server {

// The text exposition of every family `metrics` collects. Thread-safe as
// prometheus-cpp's registry is: recording may go on meanwhile.
std::string RenderMetrics(const prometheus::Collectable& metrics);

}  // namespace pagoda::server

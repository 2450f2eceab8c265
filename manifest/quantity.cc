// Kubernetes quantities and Go-style durations, exact: integers only, no
// floating point, so "0.1" is 100m on every machine.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "manifest/manifest.h"

namespace pagoda::manifest {
namespace {

// Exact arithmetic on whole.frac × 2^60 needs more than 64 bits.
__extension__ typedef __int128 Int128;

constexpr int64_t kMaxMillicpu = int64_t{1000000} * 1000;            // a million cores
constexpr int64_t kMaxBytes = int64_t{1} << 60;                      // an exbibyte
constexpr int64_t kMaxDurationMs = int64_t{366} * 24 * 3600 * 1000;  // a year

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Splits "12.345xyz" into "12", "345", "xyz". False when there is no leading number.
bool SplitNumber(std::string_view text, std::string_view* whole, std::string_view* frac,
                 std::string_view* suffix) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  *whole = text.substr(0, i);
  *frac = {};
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    *frac = text.substr(start, i - start);
    if (frac->empty()) return false;
  }
  *suffix = text.substr(i);
  return !whole->empty() || !frac->empty();
}

// whole.frac × multiplier / divisor as an exact integer; false when it is not
// one or exceeds `max`.
bool Scale(std::string_view whole, std::string_view frac, Int128 multiplier, Int128 divisor,
           int64_t max, int64_t* out, bool* inexact) {
  *inexact = false;
  if (whole.size() > 20 || frac.size() > 20) return false;
  Int128 numerator = 0;
  for (char c : whole) numerator = numerator * 10 + (c - '0');
  Int128 denominator = 1;
  for (char c : frac) {
    numerator = numerator * 10 + (c - '0');
    denominator *= 10;
  }
  numerator *= multiplier;
  denominator *= divisor;
  if (numerator % denominator != 0) {
    *inexact = true;
    return false;
  }
  Int128 value = numerator / denominator;
  if (value > max) return false;
  *out = static_cast<int64_t>(value);
  return true;
}

}  // namespace

Result<int64_t> ParseCpu(std::string_view text) {
  const std::string valid =
      "use cores (\"0.5\", \"2\") or millicores (\"500m\"); 0 means no reservation";
  if (text.starts_with('-')) return Status::InvalidArgument(Quote(text) + " is negative; " + valid);
  std::string_view whole, frac, suffix;
  if (!SplitNumber(text, &whole, &frac, &suffix) || (suffix != "" && suffix != "m")) {
    return Status::InvalidArgument(Quote(text) + " is not a cpu quantity: " + valid);
  }
  int64_t millis = 0;
  bool inexact = false;
  bool milli = suffix == "m";
  if (!Scale(whole, frac, milli ? 1 : 1000, 1, kMaxMillicpu, &millis, &inexact)) {
    if (inexact) {
      return Status::InvalidArgument(Quote(text) + " is finer than 1m (a thousandth of a core)");
    }
    return Status::InvalidArgument(Quote(text) + " is more cpu than any machine has");
  }
  return millis;
}

Result<int64_t> ParseMemory(std::string_view text) {
  const std::string valid =
      "use bytes with a suffix such as 512Mi, 1Gi (binary) or 500M, 1G (decimal); 0 means no "
      "reservation";
  if (text.starts_with('-')) return Status::InvalidArgument(Quote(text) + " is negative; " + valid);
  std::string_view whole, frac, suffix;
  if (!SplitNumber(text, &whole, &frac, &suffix)) {
    return Status::InvalidArgument(Quote(text) + " is not a memory quantity: " + valid);
  }
  struct Unit {
    std::string_view suffix;
    int64_t multiplier;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"k", 1000},
      {"M", 1000000},
      {"G", 1000000000},
      {"T", 1000000000000},
      {"P", 1000000000000000},
      {"E", 1000000000000000000},
      {"Ki", int64_t{1} << 10},
      {"Mi", int64_t{1} << 20},
      {"Gi", int64_t{1} << 30},
      {"Ti", int64_t{1} << 40},
      {"Pi", int64_t{1} << 50},
      {"Ei", int64_t{1} << 60},
  };
  if (suffix == "m") {
    return Status::InvalidArgument(Quote(text) + " means thousandths of a byte; did you mean " +
                                   std::string(whole) + std::string(frac.empty() ? "" : ".") +
                                   std::string(frac) + "Mi or " + std::string(whole) +
                                   std::string(frac.empty() ? "" : ".") + std::string(frac) + "M?");
  }
  for (const Unit& unit : kUnits) {
    if (unit.suffix != suffix) continue;
    int64_t bytes = 0;
    bool inexact = false;
    if (!Scale(whole, frac, unit.multiplier, 1, kMaxBytes, &bytes, &inexact)) {
      if (inexact) return Status::InvalidArgument(Quote(text) + " is not a whole number of bytes");
      return Status::InvalidArgument(Quote(text) + " is more memory than any machine has");
    }
    return bytes;
  }
  return Status::InvalidArgument(Quote(text) + " is not a memory quantity: " + valid);
}

Result<int64_t> ParseDuration(std::string_view text) {
  const std::string valid = "use whole numbers with units h, m, s, ms, such as 30s, 1m30s, 500ms";
  if (text == "0") return int64_t{0};
  if (text.starts_with('-')) return Status::InvalidArgument(Quote(text) + " is negative; " + valid);
  if (text.empty()) return Status::InvalidArgument("empty duration; " + valid);
  std::string_view rest = text;
  int64_t total = 0;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    std::string_view number = rest.substr(0, i);
    rest.remove_prefix(i);
    size_t j = 0;
    while (j < rest.size() && ((rest[j] >= 'a' && rest[j] <= 'z'))) ++j;
    std::string_view unit = rest.substr(0, j);
    rest.remove_prefix(j);
    int64_t per = 0;
    if (unit == "ms") per = 1;
    if (unit == "s") per = 1000;
    if (unit == "m") per = 60 * 1000;
    if (unit == "h") per = 3600 * 1000;
    if (!AllDigits(number) || per == 0 || number.size() > 12) {
      return Status::InvalidArgument(Quote(text) + " is not a duration: " + valid);
    }
    int64_t n = 0;
    std::from_chars(number.data(), number.data() + number.size(), n);
    total += n * per;
    if (total > kMaxDurationMs) {
      return Status::InvalidArgument(Quote(text) + " is longer than a year");
    }
  }
  return total;
}

std::string FormatCpu(int64_t millicpu) {
  if (millicpu % 1000 == 0) return std::to_string(millicpu / 1000);
  return std::to_string(millicpu) + "m";
}

std::string FormatMemory(int64_t bytes) {
  if (bytes == 0) return "0";
  static constexpr std::pair<const char*, int> kBinary[] = {{"Ei", 60}, {"Pi", 50}, {"Ti", 40},
                                                            {"Gi", 30}, {"Mi", 20}, {"Ki", 10}};
  for (const auto& [suffix, shift] : kBinary) {
    int64_t unit = int64_t{1} << shift;
    if (bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  static constexpr std::pair<const char*, int64_t> kDecimal[] = {
      {"E", 1000000000000000000}, {"P", 1000000000000000}, {"T", 1000000000000},
      {"G", 1000000000},          {"M", 1000000},          {"k", 1000}};
  for (const auto& [suffix, unit] : kDecimal) {
    if (bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

Result<NodeAllocatable> ParseNodeAllocatable(std::string_view text) {
  NodeAllocatable out;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (key == "cpu" && eq != std::string_view::npos) {
      Result<int64_t> cpu = ParseCpu(value);
      if (!cpu.ok()) return cpu.status().WithContext("cpu");
      out.millicpu = *cpu;
    } else if (key == "memory" && eq != std::string_view::npos) {
      Result<int64_t> memory = ParseMemory(value);
      if (!memory.ok()) return memory.status().WithContext("memory");
      out.memory_bytes = *memory;
    } else {
      return Status::InvalidArgument(Quote(part) +
                                     " is not cpu=QUANTITY or memory=QUANTITY (e.g. "
                                     "cpu=7.5,memory=15Gi)");
    }
  }
  return out;
}

}  // namespace pagoda::manifest

// Compare(): is every field pagoda sets still what pagoda set?
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "base/json.h"
#include "diff/diff.h"

namespace pagoda::diff {
namespace {

using json::Compact;
using json::Member;
using rapidjson::Value;

std::string_view Sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool IsEmpty(const Value& v) {
  return v.IsNull() || (v.IsObject() && v.MemberCount() == 0) || (v.IsArray() && v.Empty());
}

bool IsZero(const Value& v) {
  return (v.IsNumber() && v.GetDouble() == 0) || v.IsFalse() ||
         (v.IsString() && v.GetStringLength() == 0);
}

// Fields whose list items Kubernetes merges by a key (strategic merge and
// server-side apply use the same keys). The key is chosen by field name; for
// `ports` it depends on whether the items are container or service ports.
std::optional<std::string_view> MergeKey(std::string_view field, const Value& item) {
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" ||
      field == "env" || field == "volumes" || field == "imagePullSecrets" ||
      field == "hostAliases" || field == "resourceClaims") {
    if (field == "hostAliases") return "ip";
    return "name";
  }
  if (field == "volumeMounts" || field == "volumeDevices") return "mountPath";
  if (field == "ports") {
    if (Member(item, "containerPort") != nullptr) return "containerPort";
    if (Member(item, "port") != nullptr) return "port";
  }
  return std::nullopt;
}

// Fields holding Kubernetes quantities: compared by amount, not spelling.
bool IsQuantityContext(std::string_view parent) {
  return parent == "requests" || parent == "limits" || parent == "capacity" ||
         parent == "allocatable" || parent == "hard" || parent == "sizeLimit" ||
         parent == "storage" || parent == "overhead";
}

class Comparer {
 public:
  explicit Comparer(std::vector<FieldChange>* changes) : changes_(changes) {}

  void Walk(const Value& desired, const Value* live, const std::string& path,
            std::string_view field, std::string_view parent) {
    if (live == nullptr) {
      // The API server omits empty and zero values (omitempty): 0, false and
      // "" are what an absent field means.
      if (!IsEmpty(desired) && !IsZero(desired)) Report(path, &desired, nullptr);
      return;
    }
    if (desired.IsObject()) {
      if (!live->IsObject()) return Report(path, &desired, live);
      for (const auto& m : desired.GetObject()) {
        std::string_view name = Sv(m.name);
        std::string child = path.empty() ? std::string(name) : path + "." + std::string(name);
        Walk(m.value, Member(*live, name), child, name, field);
      }
      return;
    }
    if (desired.IsArray()) {
      if (!live->IsArray()) {
        if (desired.Empty() && live->IsNull()) return;
        return Report(path, &desired, live);
      }
      return WalkArray(desired, *live, path, field);
    }
    if (!ScalarsEqual(desired, *live, field, parent)) Report(path, &desired, live);
  }

 private:
  void WalkArray(const Value& desired, const Value& live, const std::string& path,
                 std::string_view field) {
    std::optional<std::string_view> key;
    if (!desired.Empty()) key = MergeKey(field, desired[0]);
    if (key) {
      for (const auto& item : desired.GetArray()) {
        const Value* id = Member(item, *key);
        if (id == nullptr) return Report(path, &desired, &live);  // not a keyed list after all
        const Value* match = nullptr;
        for (const auto& candidate : live.GetArray()) {
          const Value* cid = Member(candidate, *key);
          if (cid != nullptr && *cid == *id) {
            match = &candidate;
            break;
          }
        }
        std::string id_text = id->IsString() ? std::string(Sv(*id)) : Compact(*id);
        Walk(item, match, path + "[" + std::string(*key) + "=" + id_text + "]", field, field);
      }
      return;
    }
    if (desired.Size() != live.Size()) return Report(path, &desired, &live);
    for (rapidjson::SizeType i = 0; i < desired.Size(); ++i) {
      Walk(desired[i], &live[i], path + "[" + std::to_string(i) + "]", field, field);
    }
  }

  static bool ScalarsEqual(const Value& a, const Value& b, std::string_view field,
                           std::string_view parent) {
    if (a == b) return true;
    if (a.IsNumber() && b.IsNumber()) return a.GetDouble() == b.GetDouble();
    bool quantity = IsQuantityContext(parent) || IsQuantityContext(field);
    if (quantity && (a.IsString() || a.IsNumber()) && (b.IsString() || b.IsNumber())) {
      std::string x = a.IsString() ? std::string(Sv(a)) : Compact(a);
      std::string y = b.IsString() ? std::string(Sv(b)) : Compact(b);
      return QuantitiesEqual(x, y);
    }
    if (a.IsNull() && IsEmpty(b)) return true;
    return false;
  }

  void Report(const std::string& path, const Value* desired, const Value* live) {
    changes_->push_back({path, desired ? Compact(*desired) : "", live ? Compact(*live) : ""});
  }

  std::vector<FieldChange>* changes_;
};

// A decimal or binary quantity as an exact amount in units of 10^-9, when it fits.
std::optional<long double> QuantityValue(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    ++i;
  }
  size_t digits_start = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == digits_start) return std::nullopt;
  std::string number(text.substr(digits_start, i - digits_start));
  if (std::count(number.begin(), number.end(), '.') > 1) return std::nullopt;
  char* end = nullptr;
  long double value = std::strtold(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return std::nullopt;
  std::string_view suffix = text.substr(i);
  long double scale = 1;
  if (suffix.empty()) {
  } else if (suffix == "n") {
    scale = 1e-9L;
  } else if (suffix == "u") {
    scale = 1e-6L;
  } else if (suffix == "m") {
    scale = 1e-3L;
  } else if (suffix == "k") {
    scale = 1e3L;
  } else if (suffix == "M") {
    scale = 1e6L;
  } else if (suffix == "G") {
    scale = 1e9L;
  } else if (suffix == "T") {
    scale = 1e12L;
  } else if (suffix == "P") {
    scale = 1e15L;
  } else if (suffix == "E") {
    scale = 1e18L;
  } else if (suffix == "Ki") {
    scale = 1024.0L;
  } else if (suffix == "Mi") {
    scale = 1024.0L * 1024;
  } else if (suffix == "Gi") {
    scale = 1024.0L * 1024 * 1024;
  } else if (suffix == "Ti") {
    scale = 1024.0L * 1024 * 1024 * 1024;
  } else if (suffix == "Pi") {
    scale = 1024.0L * 1024 * 1024 * 1024 * 1024;
  } else if (suffix == "Ei") {
    scale = 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    char* exp_end = nullptr;
    std::string exp(suffix.substr(1));
    long e = std::strtol(exp.c_str(), &exp_end, 10);
    if (exp.empty() || exp_end != exp.c_str() + exp.size() || e < -18 || e > 18) {
      return std::nullopt;
    }
    scale = std::pow(10.0L, static_cast<long double>(e));
  } else {
    return std::nullopt;
  }
  long double amount = value * scale;
  return negative ? -amount : amount;
}

}  // namespace

bool QuantitiesEqual(std::string_view a, std::string_view b) {
  if (a == b) return true;
  auto x = QuantityValue(a);
  auto y = QuantityValue(b);
  if (!x || !y) return false;
  long double diff = std::fabs(*x - *y);
  long double magnitude = std::max(std::fabs(*x), std::fabs(*y));
  // Kubernetes keeps quantities to 10^-9; long double is exact far beyond
  // the amounts a pod asks for, so this only absorbs binary rounding.
  return diff <= magnitude * 1e-15L || diff < 1e-10L;
}

Comparison Compare(const Value& desired, const Value& live) {
  Comparison result;
  Comparer comparer(&result.changes);
  for (const auto& m : desired.GetObject()) {
    std::string_view name = Sv(m.name);
    if (name == "apiVersion" || name == "kind" || name == "status") continue;
    if (name != "metadata") {
      comparer.Walk(m.value, Member(live, name), std::string(name), name, "");
      continue;
    }
    // Of metadata, pagoda sets labels and annotations; name and namespace
    // are the object's identity, already matched.
    const Value* live_meta = Member(live, "metadata");
    for (const char* part : {"labels", "annotations"}) {
      const Value* want = Member(m.value, part);
      if (want == nullptr || !want->IsObject()) continue;
      const Value* have = live_meta ? Member(*live_meta, part) : nullptr;
      for (const auto& entry : want->GetObject()) {
        std::string_view key = Sv(entry.name);
        // The commit is recorded when pagoda writes, never a reason to write.
        if (key == kCommitAnnotation) continue;
        std::string path = std::string("metadata.") + part + "." + std::string(key);
        comparer.Walk(entry.value, have ? Member(*have, key) : nullptr, path, key, part);
      }
    }
  }
  result.equal = result.changes.empty();
  return result;
}

}  // namespace pagoda::diff

#include "manifest/fields.h"

#include <algorithm>

namespace pagoda::manifest {
namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string Found(const YamlNode& node) {
  if (node.IsScalar()) return node.plain ? Quote(node.scalar) : "the string " + Quote(node.scalar);
  return std::string(node.KindName());
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t lower_a = static_cast<size_t>(a[i - 1] | 0x20);
      size_t lower_b = static_cast<size_t>(b[j - 1] | 0x20);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (lower_a == lower_b ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string Suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (std::string_view c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return std::string(best);
}

Fields::Fields(Sink& sink, const YamlNode& node, std::string path)
    : sink_(sink), node_(node), path_(std::move(path)), ok_(node.IsMap()) {
  if (!ok_) {
    sink_.Error(node.pos, path_, "expected a mapping, found " + Found(node));
  }
}

std::string Fields::Path(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

const YamlNode* Fields::Get(std::string_view key) {
  known_.push_back(key);
  if (!ok_) return nullptr;
  for (const YamlEntry& e : node_.entries) {
    if (e.key == key) return e.value.IsNull() ? nullptr : &e.value;
  }
  return nullptr;
}

const YamlNode* Fields::Need(std::string_view key, std::string_view hint) {
  const YamlNode* value = Get(key);
  if (value == nullptr && ok_) {
    sink_.Error(node_.pos, Path(key),
                "is required" + (hint.empty() ? std::string() : " (" + std::string(hint) + ")"));
  }
  return value;
}

void Fields::Finish() {
  if (!ok_) return;
  for (const YamlEntry& e : node_.entries) {
    if (std::find(known_.begin(), known_.end(), e.key) != known_.end()) continue;
    std::string message = "unknown field";
    std::string suggestion = Suggest(e.key, known_);
    if (!suggestion.empty()) {
      message += "; did you mean " + Quote(suggestion) + "?";
    } else {
      std::vector<std::string_view> sorted = known_;
      std::sort(sorted.begin(), sorted.end());
      message += " (known: ";
      for (size_t i = 0; i < sorted.size(); ++i) {
        message += (i ? ", " : "") + std::string(sorted[i]);
      }
      message += ")";
    }
    sink_.Error(e.key_pos, Path(e.key), message);
  }
}

bool GetString(Sink& sink, const YamlNode& node, const std::string& path,
               Located<std::string>* out) {
  if (!node.IsScalar()) {
    sink.Error(node.pos, path, "expected a string, found " + Found(node));
    return false;
  }
  out->value = node.scalar;
  out->pos = node.pos;
  return true;
}

bool GetJsonString(Sink& sink, const YamlNode& node, const std::string& path,
                   Located<std::string>* out) {
  bool b = false;
  int64_t i = 0;
  if (node.IsScalar() && node.plain &&
      (IsYamlBool(node.scalar, &b) || IsYamlInt(node.scalar, &i) || IsYamlFloat(node.scalar))) {
    sink.Error(node.pos, path,
               "expected a string, found " + Found(node) + ", which YAML reads as " +
                   (IsYamlBool(node.scalar, &b) ? "a bool" : "a number") + "; quote it");
    return false;
  }
  return GetString(sink, node, path, out);
}

bool GetInt(Sink& sink, const YamlNode& node, const std::string& path, int64_t min, int64_t max,
            Located<int64_t>* out) {
  int64_t value = 0;
  if (!node.IsScalar() || !node.plain || !IsYamlInt(node.scalar, &value)) {
    sink.Error(node.pos, path, "expected a whole number, found " + Found(node));
    return false;
  }
  if (value < min || value > max) {
    sink.Error(node.pos, path,
               std::to_string(value) + " is out of range: use " + std::to_string(min) + " to " +
                   std::to_string(max));
    return false;
  }
  out->value = value;
  out->pos = node.pos;
  return true;
}

bool GetPort(Sink& sink, const YamlNode& node, const std::string& path, Located<int>* out) {
  Located<int64_t> port;
  if (!GetInt(sink, node, path, 1, 65535, &port)) return false;
  out->value = static_cast<int>(port.value);
  out->pos = port.pos;
  return true;
}

bool GetBool(Sink& sink, const YamlNode& node, const std::string& path, bool* out) {
  if (!node.IsScalar() || !node.plain || !IsYamlBool(node.scalar, out)) {
    sink.Error(node.pos, path, "expected true or false, found " + Found(node));
    return false;
  }
  return true;
}

bool GetDuration(Sink& sink, const YamlNode& node, const std::string& path, bool whole_seconds,
                 int64_t* out_ms) {
  if (!node.IsScalar()) {
    sink.Error(node.pos, path, "expected a duration such as 30s, found " + Found(node));
    return false;
  }
  Result<int64_t> ms = ParseDuration(node.scalar);
  if (!ms.ok()) {
    sink.Error(node.pos, path, ms.status().message());
    return false;
  }
  if (whole_seconds && *ms % 1000 != 0) {
    sink.Error(node.pos, path, "\"" + node.scalar + "\" is not a whole number of seconds");
    return false;
  }
  *out_ms = *ms;
  return true;
}

bool GetStringList(Sink& sink, const YamlNode& node, const std::string& path,
                   std::vector<std::string>* out) {
  if (!node.IsSequence()) {
    sink.Error(node.pos, path, "expected a list of strings, found " + Found(node));
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < node.items.size(); ++i) {
    Located<std::string> s;
    if (GetString(sink, node.items[i], path + "[" + std::to_string(i) + "]", &s)) {
      out->push_back(std::move(s.value));
    } else {
      ok = false;
    }
  }
  return ok;
}

bool GetChoice(Sink& sink, const YamlNode& node, const std::string& path,
               std::initializer_list<std::string_view> choices, int* out) {
  int i = 0;
  if (node.IsScalar()) {
    for (std::string_view c : choices) {
      if (node.scalar == c) {
        *out = i;
        return true;
      }
      ++i;
    }
  }
  std::string list;
  i = 0;
  for (std::string_view c : choices) list += (i++ ? ", " : "") + std::string(c);
  sink.Error(node.pos, path, Found(node) + " is not one of " + list);
  return false;
}

bool CheckName(Sink& sink, const Located<std::string>& name, const std::string& path,
               std::string (*check)(std::string_view)) {
  std::string message = check(name.value);
  if (message.empty()) return true;
  sink.Error(name.pos, path, message);
  return false;
}

}  // namespace pagoda::manifest

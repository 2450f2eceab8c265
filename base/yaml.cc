#include "base/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <utility>

namespace pagoda {
namespace {

// Thrown inside the event handler to stop the parse; caught in ReadYaml.
struct Stop {
  Pos pos;
  std::string message;
  bool over_bytes = false;
};

std::string Bytes(size_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= (1u << 10) && n % (1u << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

Pos ToPos(const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(const YamlLimits& limits) : limits_(limits) {}

  std::vector<YamlDocument>& documents() { return documents_; }
  size_t bytes() const { return bytes_; }

  void OnDocumentStart(const YAML::Mark&) override {
    stack_.clear();
    anchors_.clear();
    have_root_ = false;
    root_ = YamlNode();
  }

  void OnDocumentEnd() override {
    if (have_root_ && !root_.IsNull()) documents_.push_back({std::move(root_)});
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YamlNode node;
    node.pos = ToPos(mark);
    Count(node.pos, 1, 0);
    Complete(std::move(node), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      throw Stop{ToPos(mark), "an alias refers to an anchor that is not complete yet"};
    }
    if (++aliases_ > limits_.max_aliases) {
      throw Stop{ToPos(mark), "the file names anchors more than " +
                                  std::to_string(limits_.max_aliases) +
                                  " times (aliases); refusing to read it"};
    }
    Count(ToPos(mark), it->second->size, it->second->bytes);
    YamlNode copy = *it->second;
    Complete(std::move(copy), 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode node;
    node.pos = ToPos(mark);
    Count(node.pos, 1, value.size());
    node.bytes = value.size();
    if (tag == "?") {
      node.kind = IsYamlNull(value) ? YamlNode::Kind::kNull : YamlNode::Kind::kScalar;
      node.plain = true;
    } else if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      node.kind = YamlNode::Kind::kScalar;
      node.plain = false;
    } else {
      throw Stop{node.pos, "the tag \"" + tag + "\" is not supported"};
    }
    if (node.kind == YamlNode::Kind::kScalar) node.scalar = value;
    Complete(std::move(node), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, tag, anchor, YamlNode::Kind::kSequence, "tag:yaml.org,2002:seq");
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, tag, anchor, YamlNode::Kind::kMap, "tag:yaml.org,2002:map");
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    YamlNode node;
    YAML::anchor_t anchor = 0;
    bool have_key = false;
    std::string key;
    Pos key_pos;
    // Built once a mapping grows past a few keys, so duplicate detection stays linear.
    std::unordered_map<std::string, Pos> index;
  };

  // Counted before a node is built or copied, so a budget is never
  // overrun by more than one scalar.
  void Count(Pos pos, size_t nodes, size_t bytes) {
    nodes_ += nodes;
    bytes_ += bytes;
    if (nodes_ > limits_.max_nodes) {
      throw Stop{pos, "the file expands to more than " + std::to_string(limits_.max_nodes) +
                          " YAML nodes (through aliases or sheer size); refusing to read it"};
    }
    if (bytes_ > limits_.max_bytes) {
      throw Stop{pos,
                 "the file expands to more than " + Bytes(limits_.max_bytes) +
                     " of text (aliases count each copy); refusing to read it",
                 true};
    }
  }

  void Open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
            YamlNode::Kind kind, const char* explicit_tag) {
    Pos pos = ToPos(mark);
    if (tag != "?" && tag != "!" && tag != explicit_tag) {
      throw Stop{pos, "the tag \"" + tag + "\" is not supported"};
    }
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      throw Stop{pos, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels"};
    }
    Count(pos, 1, 0);
    Frame frame;
    frame.node.kind = kind;
    frame.node.pos = pos;
    frame.anchor = anchor;
    stack_.push_back(std::move(frame));
  }

  void Close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.have_key) {  // cannot happen with a well-formed event stream
      throw Stop{frame.key_pos, "a mapping key without a value"};
    }
    Complete(std::move(frame.node), frame.anchor);
  }

  void Complete(YamlNode node, YAML::anchor_t anchor) {
    if (anchor != 0) anchors_[anchor] = std::make_shared<const YamlNode>(node);
    if (stack_.empty()) {
      root_ = std::move(node);
      have_root_ = true;
      return;
    }
    Frame& parent = stack_.back();
    parent.node.size += node.size;
    parent.node.bytes += node.bytes;
    if (parent.node.IsSequence()) {
      parent.node.items.push_back(std::move(node));
      return;
    }
    if (!parent.have_key) {
      if (!node.IsScalar()) {
        throw Stop{node.pos,
                   "a mapping key must be a plain string, not " + std::string(node.KindName())};
      }
      if (node.plain && node.scalar == "<<") {
        throw Stop{node.pos, "merge keys (<<) are not supported; write the fields out"};
      }
      Pos first;
      if (FindKey(parent, node.scalar, &first)) {
        throw Stop{node.pos, "duplicate key \"" + node.scalar + "\" (first at line " +
                                 std::to_string(first.line) + ")"};
      }
      parent.have_key = true;
      parent.key = std::move(node.scalar);
      parent.key_pos = node.pos;
      return;
    }
    if (node.IsNull()) node.pos = parent.key_pos;  // "key:" with nothing: point at the key
    if (!parent.index.empty() || parent.node.entries.size() >= 16) {
      if (parent.index.empty()) {
        for (const YamlEntry& e : parent.node.entries) parent.index.emplace(e.key, e.key_pos);
      }
      parent.index.emplace(parent.key, parent.key_pos);
    }
    parent.node.entries.push_back({std::move(parent.key), parent.key_pos, std::move(node)});
    parent.have_key = false;
    parent.key.clear();
  }

  static bool FindKey(const Frame& frame, const std::string& key, Pos* first) {
    if (!frame.index.empty()) {
      auto it = frame.index.find(key);
      if (it == frame.index.end()) return false;
      *first = it->second;
      return true;
    }
    for (const YamlEntry& e : frame.node.entries) {
      if (e.key == key) {
        *first = e.key_pos;
        return true;
      }
    }
    return false;
  }

  YamlLimits limits_;
  std::vector<YamlDocument> documents_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, std::shared_ptr<const YamlNode>> anchors_;
  YamlNode root_;
  bool have_root_ = false;
  size_t nodes_ = 0;  // over the whole file, so many small documents cannot dodge the bounds
  size_t bytes_ = 0;
  size_t aliases_ = 0;
};

}  // namespace

std::string FilePos(std::string_view file, Pos pos) {
  std::string out(file);
  if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
  return out;
}

std::string_view YamlNode::KindName() const {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kScalar:
      return "a scalar";
    case Kind::kSequence:
      return "a list";
    case Kind::kMap:
      return "a mapping";
  }
  return "?";
}

const YamlNode* YamlNode::Find(std::string_view key) const {
  for (const YamlEntry& e : entries) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

YamlResult ReadYaml(std::string_view text, const YamlLimits& limits) {
  YamlResult result;
  TreeBuilder builder(limits);
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
    result.documents = std::move(builder.documents());
    result.bytes = builder.bytes();
  } catch (const Stop& stop) {
    result.ok = false;
    result.over_bytes = stop.over_bytes;
    result.error_pos = stop.pos;
    result.error = stop.message;
  } catch (const YAML::Exception& e) {
    result.ok = false;
    result.error_pos = ToPos(e.mark);
    result.error = "YAML does not parse: " + e.msg;
  } catch (const std::exception& e) {
    result.ok = false;
    result.error = std::string("YAML does not parse: ") + e.what();
  }
  if (!result.ok) result.documents.clear();
  return result;
}

bool IsYamlNull(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool IsYamlBool(std::string_view s, bool* value) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

bool IsYamlInt(std::string_view s, int64_t* value) {
  if (s.empty()) return false;
  bool negative = false;
  std::string_view digits = s;
  if (digits[0] == '-' || digits[0] == '+') {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    if (s[0] == '-' || s[0] == '+') return false;  // the core schema has no signed hex/octal
    base = digits[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
  }
  if (digits.empty()) return false;
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  if (magnitude > static_cast<uint64_t>(INT64_MAX)) return false;
  *value = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

bool IsYamlFloat(std::string_view s) {
  // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  bool exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    exponent = true;
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size() && (dot || exponent);
}

}  // namespace pagoda

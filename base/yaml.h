// A bounded YAML reader over yaml-cpp's event parser. It builds a small tree
// whose nodes remember their line and column, and refuses what yaml-cpp lets
// through silently: duplicate keys, merge keys, non-scalar keys, unsupported
// tags. Aliases are expanded as copies under a node and a byte budget, so a
// "billion laughs" document, or one long string named a thousand times, fails
// once the budget is spent, never by eating memory. yaml-cpp's exceptions
// stop here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pagoda {

// A place in a file, both counted from 1; {0, 0} when unknown.
struct Pos {
  int line = 0;
  int column = 0;
};

// "file:3:7", where messages point; just "file" when `pos` is unknown.
std::string FilePos(std::string_view file, Pos pos);

struct YamlEntry;

struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  bool plain = true;   // a scalar without quotes or tag: its type is resolved from its text
  std::string scalar;  // kScalar
  std::vector<YamlNode> items;     // kSequence
  std::vector<YamlEntry> entries;  // kMap, in document order
  Pos pos;
  size_t size = 1;   // nodes in this subtree, itself included
  size_t bytes = 0;  // bytes of the scalars (keys included) in this subtree

  bool IsMap() const { return kind == Kind::kMap; }
  bool IsSequence() const { return kind == Kind::kSequence; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsNull() const { return kind == Kind::kNull; }
  // "a mapping", "a sequence", "a string", "null": for messages.
  std::string_view KindName() const;
  // The value of `key` when this is a mapping that has it (a null value
  // included); nullptr otherwise.
  const YamlNode* Find(std::string_view key) const;
};

struct YamlEntry {
  std::string key;
  Pos key_pos;
  YamlNode value;
};

struct YamlDocument {
  YamlNode root;  // documents that are empty or only null are dropped
};

// Bounds on one file. Aliases count as copies of what they name, for both
// nodes and bytes: a short file that names a long string many times is as
// large as the text it stands for.
struct YamlLimits {
  int max_depth = 32;
  size_t max_nodes = 100000;
  size_t max_bytes = 4u << 20;  // scalars' bytes, keys and alias copies included
  // Times a file may name an anchor. Manifests seldom do at all; a file that
  // names one tens of thousands of times is refused before yaml-cpp has
  // spent its time scanning all of them.
  size_t max_aliases = 10000;
};

struct YamlResult {
  std::vector<YamlDocument> documents;
  bool ok = true;
  bool over_bytes = false;  // !ok because of max_bytes
  size_t bytes = 0;         // scalars' bytes over all documents, copies included
  Pos error_pos;
  std::string
      error;  // when !ok: what is wrong, e.g. "duplicate key \"replicas\" (first at line 4)"
};

YamlResult ReadYaml(std::string_view text, const YamlLimits& limits);

// YAML 1.2 core schema resolution of a plain scalar.
bool IsYamlNull(std::string_view plain);
bool IsYamlBool(std::string_view plain, bool* value);
bool IsYamlInt(std::string_view plain, int64_t* value);
bool IsYamlFloat(std::string_view plain);

}  // namespace pagoda

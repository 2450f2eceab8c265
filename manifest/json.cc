#include "manifest/json.h"

#include <openssl/evp.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace pagoda::manifest {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteCanonical(const rapidjson::Value& v, Writer& w) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      w.Null();
      return;
    case rapidjson::kFalseType:
      w.Bool(false);
      return;
    case rapidjson::kTrueType:
      w.Bool(true);
      return;
    case rapidjson::kStringType:
      w.String(v.GetString(), v.GetStringLength());
      return;
    case rapidjson::kNumberType:
      if (v.IsInt64()) {
        w.Int64(v.GetInt64());
      } else if (v.IsUint64()) {
        w.Uint64(v.GetUint64());
      } else {
        w.Double(v.GetDouble());
      }
      return;
    case rapidjson::kArrayType:
      w.StartArray();
      for (const auto& item : v.GetArray()) WriteCanonical(item, w);
      w.EndArray();
      return;
    case rapidjson::kObjectType: {
      std::vector<const rapidjson::Value::Member*> members;
      members.reserve(v.MemberCount());
      for (const auto& m : v.GetObject()) members.push_back(&m);
      std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
        std::string_view x(a->name.GetString(), a->name.GetStringLength());
        std::string_view y(b->name.GetString(), b->name.GetStringLength());
        return x < y;
      });
      w.StartObject();
      for (const auto* m : members) {
        w.Key(m->name.GetString(), m->name.GetStringLength());
        WriteCanonical(m->value, w);
      }
      w.EndObject();
      return;
    }
  }
}

std::string JsonString(std::string_view s) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool LooksSpecial(std::string_view s) {
  // Words some YAML reader (1.1 or 1.2) takes for a bool or null.
  static constexpr std::string_view kWords[] = {"y",   "n",    "yes",   "no",  "on",
                                                "off", "true", "false", "null"};
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (std::string_view w : kWords) {
    if (lower == w) return true;
  }
  return false;
}

// Plain when made of [A-Za-z0-9_./-] (and ':' not followed by a space),
// starting with a letter or '/', and not a YAML keyword. Digits-first
// strings ("1.4", "0755", "1e3") are always quoted.
bool CanBePlain(std::string_view s) {
  if (s.empty() || LooksSpecial(s)) return false;
  char first = s.front();
  bool letter = (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z');
  if (!letter && first != '/') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '/' || c == '-' ||
              (c == ':' && i + 1 < s.size() && s[i + 1] != ' ');
    if (!ok) return false;
  }
  return s.back() != ':';
}

// A literal block keeps multi-line content (config files) readable.
bool CanBeLiteral(std::string_view s) {
  if (s.find('\n') == std::string_view::npos) return false;
  if (s.front() == ' ' || s.front() == '\n' || s.front() == '\t') return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
  }
  // A line holding only spaces could be mistaken for indentation.
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    std::string_view line = s.substr(start, nl == std::string_view::npos ? s.npos : nl - start);
    if (!line.empty() && line.find_first_not_of(" \t") == std::string_view::npos) return false;
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return true;
}

void EmitScalar(const rapidjson::Value& v, int indent, std::string& out) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      out += "null";
      return;
    case rapidjson::kFalseType:
      out += "false";
      return;
    case rapidjson::kTrueType:
      out += "true";
      return;
    case rapidjson::kNumberType: {
      rapidjson::StringBuffer buffer;
      Writer w(buffer);
      WriteCanonical(v, w);
      out.append(buffer.GetString(), buffer.GetSize());
      return;
    }
    case rapidjson::kStringType: {
      std::string_view s(v.GetString(), v.GetStringLength());
      if (CanBePlain(s)) {
        out += s;
      } else if (CanBeLiteral(s)) {
        size_t trailing = s.size() - s.find_last_not_of('\n') - 1;
        out += trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
        std::string pad(static_cast<size_t>(indent), ' ');
        size_t start = 0;
        std::string_view body = trailing == 0 ? s : s.substr(0, s.size() - 1);
        while (start <= body.size()) {
          size_t nl = body.find('\n', start);
          std::string_view line =
              body.substr(start, nl == std::string_view::npos ? body.npos : nl - start);
          out += '\n';
          if (!line.empty()) out += pad;
          out += line;
          if (nl == std::string_view::npos) break;
          start = nl + 1;
        }
      } else {
        out += JsonString(s);
      }
      return;
    }
    default:
      return;
  }
}

bool IsEmptyCollection(const rapidjson::Value& v) {
  return (v.IsObject() && v.MemberCount() == 0) || (v.IsArray() && v.Size() == 0);
}

void EmitNode(const rapidjson::Value& v, int indent, std::string& out);

// Writes the value that follows "key:" or "- ".
void EmitValue(const rapidjson::Value& v, int indent, bool after_dash, std::string& out) {
  if (IsEmptyCollection(v)) {
    out += v.IsObject() ? " {}\n" : " []\n";
  } else if (v.IsObject() || v.IsArray()) {
    if (after_dash && v.IsObject()) {
      // "- key: value" with the rest of the mapping aligned under the key.
      out += ' ';
      std::string nested;
      EmitNode(v, indent, nested);
      out += nested.substr(static_cast<size_t>(indent));
    } else {
      out += '\n';
      EmitNode(v, indent, out);
    }
  } else {
    out += ' ';
    EmitScalar(v, indent, out);
    out += '\n';
  }
}

void EmitNode(const rapidjson::Value& v, int indent, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.IsObject()) {
    std::vector<const rapidjson::Value::Member*> members;
    for (const auto& m : v.GetObject()) members.push_back(&m);
    std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
      return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
             std::string_view(b->name.GetString(), b->name.GetStringLength());
    });
    for (const auto* m : members) {
      std::string_view key(m->name.GetString(), m->name.GetStringLength());
      out += pad;
      out += CanBePlain(key) ? std::string(key) : JsonString(key);
      out += ':';
      EmitValue(m->value, indent + 2, false, out);
    }
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) {
      out += pad;
      out += '-';
      EmitValue(item, indent + 2, true, out);
    }
  } else {
    out += pad;
    EmitScalar(v, indent, out);
    out += '\n';
  }
}

}  // namespace

std::string CanonicalJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  WriteCanonical(value, w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<std::string> JsonToYaml(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return Status::Internal(std::string("rendered JSON does not parse: ") +
                            rapidjson::GetParseError_En(doc.GetParseError()));
  }
  std::string out;
  if (IsEmptyCollection(doc)) return std::string(doc.IsObject() ? "{}\n" : "[]\n");
  EmitNode(doc, 0, out);
  return out;
}

std::string Sha256Hex(std::string_view bytes, size_t hex_digits) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length && out.size() < hex_digits; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  out.resize(std::min(out.size(), hex_digits));
  return out;
}

rapidjson::Value YamlToJson(const YamlNode& node, rapidjson::Document::AllocatorType& alloc) {
  switch (node.kind) {
    case YamlNode::Kind::kNull:
      return rapidjson::Value(rapidjson::kNullType);
    case YamlNode::Kind::kScalar: {
      if (node.plain) {
        bool b = false;
        int64_t i = 0;
        if (IsYamlBool(node.scalar, &b)) return rapidjson::Value(b);
        if (IsYamlInt(node.scalar, &i)) return rapidjson::Value(i);
        if (IsYamlFloat(node.scalar)) {
          return rapidjson::Value(std::strtod(node.scalar.c_str(), nullptr));
        }
      }
      return rapidjson::Value(node.scalar.c_str(),
                              static_cast<rapidjson::SizeType>(node.scalar.size()), alloc);
    }
    case YamlNode::Kind::kSequence: {
      rapidjson::Value array(rapidjson::kArrayType);
      array.Reserve(static_cast<rapidjson::SizeType>(node.items.size()), alloc);
      for (const YamlNode& item : node.items) array.PushBack(YamlToJson(item, alloc), alloc);
      return array;
    }
    case YamlNode::Kind::kMap: {
      rapidjson::Value object(rapidjson::kObjectType);
      for (const YamlEntry& e : node.entries) {
        object.AddMember(
            rapidjson::Value(e.key.c_str(), static_cast<rapidjson::SizeType>(e.key.size()), alloc),
            YamlToJson(e.value, alloc), alloc);
      }
      return object;
    }
  }
  return rapidjson::Value(rapidjson::kNullType);
}

}  // namespace pagoda::manifest

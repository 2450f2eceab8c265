// Reading and writing JSON with RapidJSON, one way everywhere.
//
// Two kinds of reading. What pagoda wrote itself (release records, the status
// document) is read strictly with Fields: a wrong type is an error that names
// the field's path. What another program wrote, where a missing member only
// means "not set" (API server objects, requests), is read leniently with
// Member(), At() and StringAt(), which never fail.
//
// JSON that comes from outside the process (API servers, forges, the control
// socket) is parsed with Parse(): without recursion, and only so deep, so
// that no input can overflow the stack, here or in whatever walks the
// document afterwards.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pagoda::json {

// ---- Parsing -------------------------------------------------------------------

// Far deeper than anything Kubernetes, a forge or the command line sends.
inline constexpr size_t kMaxDepth = 512;

// Parses `text` (which need not end in NUL) into `doc` with RapidJSON's
// iterative parser (kParseIterativeFlag). InvalidArgument "Invalid value. at
// offset 0", or "nested deeper than 512 levels at offset 512", when it is
// not one JSON value nested at most `max_depth` arrays and objects deep;
// `doc` is then null.
Status Parse(std::string_view text, rapidjson::Document* doc, size_t max_depth = kMaxDepth);

// ---- Lenient reading ---------------------------------------------------------------

// The member `name` of `object`; nullptr when `object` is not an object or
// has no such member.
const rapidjson::Value* Member(const rapidjson::Value& object, std::string_view name);
// The value at a path of members, {"metadata", "labels", "app"}; nullptr
// where the path breaks off.
const rapidjson::Value* At(const rapidjson::Value& object,
                           std::initializer_list<std::string_view> path);
// The string member `name` (or at `path`); "" when absent or not a string.
std::string StringAt(const rapidjson::Value& object, std::string_view name);
std::string StringAt(const rapidjson::Value& object, std::initializer_list<std::string_view> path);

// ---- Strict reading ----------------------------------------------------------------

// Reads the typed fields of one JSON object. Every error is InvalidArgument
// and names the field by its path: "batches[2].pods: not a list". A member
// that is null counts as absent; absent fields leave their output alone.
class Fields {
 public:
  // `path` names `object` as a prefix of its fields: "" at the top,
  // "batches[2]." below.
  Fields(const rapidjson::Value& object, std::string path)
      : object_(object), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  // InvalidArgument "<path><key>: <what>".
  Status Error(std::string_view key, std::string_view what) const;

  // The member `key`; nullptr when absent or null.
  const rapidjson::Value* Get(std::string_view key) const;

  Status String(std::string_view key, std::string* out, bool required = false) const;
  Status Int(std::string_view key, int64_t* out) const;
  Status Int(std::string_view key, int* out) const;  // "out of range" beyond 32 bits
  Status Bool(std::string_view key, bool* out) const;
  Status Strings(std::string_view key, std::vector<std::string>* out) const;

  // The string at `key` turned into a T by `parse`, a callable
  // Result<T>(std::string_view) whose error message becomes the field's. An
  // empty string counts as absent, unless the field is required.
  template <typename T, typename Parse>
  Status Parsed(std::string_view key, Parse&& parse, T* out, bool required = false) const {
    std::string text;
    PAGODA_RETURN_IF_ERROR(String(key, &text, required));
    if (text.empty() && !required) return Status::Ok();
    Result<T> value = parse(std::string_view(text));
    if (!value.ok()) return Error(key, value.status().message());
    *out = std::move(*value);
    return Status::Ok();
  }

  using Read = std::function<Status(const Fields&)>;
  // Reads the object at `key` with `read`, its fields named "<path><key>.".
  // Nothing when absent; an error when not an object.
  Status Object(std::string_view key, const Read& read) const;
  // Reads each object of the list at `key` with `read`, the fields of the
  // i-th named "<path><key>[i].". Nothing when absent; an error when not a
  // list, or when an item is not an object.
  Status Objects(std::string_view key, const Read& read) const;

 private:
  const rapidjson::Value& object_;
  std::string path_;
};

// ---- Writing -------------------------------------------------------------------

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, std::string_view key);
// "key":"value"
void String(Writer& w, std::string_view key, std::string_view value);

// `value` as compact JSON text.
std::string Compact(const rapidjson::Value& value);

}  // namespace pagoda::json

#include "base/json.h"

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstdint>

namespace pagoda::json {
namespace {

rapidjson::Value Name(std::string_view name) {
  return rapidjson::Value(rapidjson::StringRef(name.data(), name.size()));
}

// Hands the reader's events to the document, refusing to open an array or
// object past `max_depth`.
class DepthBound {
 public:
  DepthBound(rapidjson::Document& doc, size_t max_depth) : doc_(doc), max_depth_(max_depth) {}

  bool too_deep() const { return too_deep_; }

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned i) { return doc_.Uint(i); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t i) { return doc_.Uint64(i); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool StartObject() { return Open() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return doc_.EndObject(members);
  }
  bool StartArray() { return Open() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return doc_.EndArray(elements);
  }

 private:
  bool Open() {
    too_deep_ = ++depth_ > max_depth_;
    return !too_deep_;
  }

  rapidjson::Document& doc_;
  size_t max_depth_;
  size_t depth_ = 0;
  bool too_deep_ = false;
};

std::string StringOf(const rapidjson::Value* v) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                       : std::string();
}

}  // namespace

// ---- Parsing ----

Status Parse(std::string_view text, rapidjson::Document* doc, size_t max_depth) {
  doc->SetNull();
  rapidjson::Reader reader;
  rapidjson::MemoryStream memory(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(memory);
  bool too_deep = false;
  // Populate() moves what the handler built into `doc` when it returns true.
  auto parse = [&](rapidjson::Document& into) {
    DepthBound bound(into, max_depth);
    rapidjson::ParseResult result = reader.Parse<rapidjson::kParseIterativeFlag>(stream, bound);
    too_deep = bound.too_deep();
    return !result.IsError();
  };
  doc->Populate(parse);
  if (!reader.HasParseError()) return Status::Ok();
  doc->SetNull();
  const std::string at = " at offset " + std::to_string(reader.GetErrorOffset());
  if (too_deep) {
    return Status::InvalidArgument("nested deeper than " + std::to_string(max_depth) + " levels" +
                                   at);
  }
  return Status::InvalidArgument(rapidjson::GetParseError_En(reader.GetParseErrorCode()) + at);
}

// ---- Lenient reading ----

const rapidjson::Value* Member(const rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(Name(name));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

const rapidjson::Value* At(const rapidjson::Value& object,
                           std::initializer_list<std::string_view> path) {
  const rapidjson::Value* v = &object;
  for (std::string_view name : path) {
    v = Member(*v, name);
    if (v == nullptr) return nullptr;
  }
  return v;
}

std::string StringAt(const rapidjson::Value& object, std::string_view name) {
  return StringOf(Member(object, name));
}

std::string StringAt(const rapidjson::Value& object, std::initializer_list<std::string_view> path) {
  return StringOf(At(object, path));
}

// ---- Fields ----

Status Fields::Error(std::string_view key, std::string_view what) const {
  return Status::InvalidArgument(path_ + std::string(key) + ": " + std::string(what));
}

const rapidjson::Value* Fields::Get(std::string_view key) const {
  const rapidjson::Value* v = Member(object_, key);
  return v == nullptr || v->IsNull() ? nullptr : v;
}

Status Fields::String(std::string_view key, std::string* out, bool required) const {
  const rapidjson::Value* v = Get(key);
  if (v == nullptr) return required ? Error(key, "missing") : Status::Ok();
  if (!v->IsString()) return Error(key, "not a string");
  out->assign(v->GetString(), v->GetStringLength());
  return Status::Ok();
}

Status Fields::Int(std::string_view key, int64_t* out) const {
  const rapidjson::Value* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsInt64()) return Error(key, "not an integer");
  *out = v->GetInt64();
  return Status::Ok();
}

Status Fields::Int(std::string_view key, int* out) const {
  int64_t value = *out;
  PAGODA_RETURN_IF_ERROR(Int(key, &value));
  if (value < INT32_MIN || value > INT32_MAX) return Error(key, "out of range");
  *out = static_cast<int>(value);
  return Status::Ok();
}

Status Fields::Bool(std::string_view key, bool* out) const {
  const rapidjson::Value* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsBool()) return Error(key, "not a boolean");
  *out = v->GetBool();
  return Status::Ok();
}

Status Fields::Strings(std::string_view key, std::vector<std::string>* out) const {
  const rapidjson::Value* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsArray()) return Error(key, "not a list");
  for (const rapidjson::Value& item : v->GetArray()) {
    if (!item.IsString()) return Error(key, "holds something other than a string");
    out->emplace_back(item.GetString(), item.GetStringLength());
  }
  return Status::Ok();
}

Status Fields::Object(std::string_view key, const Read& read) const {
  const rapidjson::Value* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsObject()) return Error(key, "not an object");
  return read(Fields(*v, path_ + std::string(key) + "."));
}

Status Fields::Objects(std::string_view key, const Read& read) const {
  const rapidjson::Value* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsArray()) return Error(key, "not a list");
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const std::string item = std::string(key) + "[" + std::to_string(i) + "]";
    if (!(*v)[i].IsObject()) return Error(item, "not an object");
    PAGODA_RETURN_IF_ERROR(read(Fields((*v)[i], path_ + item + ".")));
  }
  return Status::Ok();
}

// ---- Writing ----

void Key(Writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void String(Writer& w, std::string_view key, std::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string Compact(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace pagoda::json

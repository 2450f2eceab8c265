#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "base/json.h"
#include "diff/diff.h"

namespace pagoda::diff {
namespace {

int64_t IntAt(const rapidjson::Value& object, const char* a, const char* b) {
  const rapidjson::Value* v = json::At(object, {a, b});
  return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
}

// `object` as compact JSON, without metadata.managedFields: pagoda never
// reads them, and they are often the largest part of an object.
std::string TextWithoutManagedFields(const rapidjson::Value& object) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  if (!object.IsObject()) {
    object.Accept(writer);
    return std::string(buffer.GetString(), buffer.GetSize());
  }
  writer.StartObject();
  for (const auto& m : object.GetObject()) {
    writer.Key(m.name.GetString(), m.name.GetStringLength());
    if (m.name != "metadata" || !m.value.IsObject()) {
      m.value.Accept(writer);
      continue;
    }
    writer.StartObject();
    for (const auto& f : m.value.GetObject()) {
      if (f.name == "managedFields") continue;
      writer.Key(f.name.GetString(), f.name.GetStringLength());
      f.value.Accept(writer);
    }
    writer.EndObject();
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// LiveFacts::compared_version of `object`.
std::string ComparedVersion(const rapidjson::Value& object) {
  const std::string_view resource_version = MetadataString(object, "resourceVersion");
  const rapidjson::Value* generation = json::At(object, {"metadata", "generation"});
  if (resource_version.empty() || !object.IsObject() || generation == nullptr ||
      !generation->IsInt64() || generation->GetInt64() <= 0) {
    return "rv:" + std::string(resource_version);
  }
  for (const auto& m : object.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name != "apiVersion" && name != "kind" && name != "metadata" && name != "spec" &&
        name != "status") {
      return "rv:" + std::string(resource_version);  // not all of it moves the generation
    }
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const char* part : {"labels", "annotations"}) {
    const rapidjson::Value* v = json::At(object, {"metadata", part});
    if (v != nullptr) {
      v->Accept(writer);
    } else {
      writer.Null();
    }
  }
  writer.EndArray();
  return "g:" + std::to_string(generation->GetInt64()) + ":" +
         std::to_string(HashJson(std::string_view(buffer.GetString(), buffer.GetSize())));
}

// A parsed text and the pool it lives in, sized to it: a parse of one small
// object must not take a pool's default 64 KiB.
struct ParsedText {
  explicit ParsedText(const std::string& json) : pool(json.size() * 4 + 512), doc(&pool) {
    // Text this process wrote from a parsed object: it parses.
    doc.Parse(json.c_str(), json.size());
    if (doc.HasParseError()) doc.SetObject();
  }
  rapidjson::MemoryPoolAllocator<> pool;
  rapidjson::Document doc;
};

}  // namespace

LiveFacts FactsOf(const rapidjson::Value& object) {
  LiveFacts f;
  f.uid = MetadataString(object, "uid");
  f.resource_version = MetadataString(object, "resourceVersion");
  f.name = LabelOf(object, kNameLabel);
  f.instance = LabelOf(object, kInstanceLabel);
  f.managed_by = LabelOf(object, kManagedByLabel);
  f.revision = LabelOf(object, kRevisionLabel);
  f.applied = AnnotationOf(object, kAppliedAnnotation);
  f.replicas = IntAt(object, "spec", "replicas");
  f.ready_replicas = IntAt(object, "status", "readyReplicas");
  f.compared_version = ComparedVersion(object);
  return f;
}

std::shared_ptr<const LiveObject::Text> LiveObject::Keep(const rapidjson::Value& object) {
  auto text = std::make_shared<Text>();
  text->json = TextWithoutManagedFields(object);
  text->facts = FactsOf(object);
  return text;
}

LiveObject::LiveObject(std::shared_ptr<const rapidjson::Value> parsed)
    : facts_(std::make_unique<const LiveFacts>(FactsOf(*parsed))), parsed_(std::move(parsed)) {
  std::call_once(parse_once_, [] {});
  parsed_flag_.store(true, std::memory_order_release);
}

LiveObject::LiveObject(std::shared_ptr<const Text> text) : text_(std::move(text)) {}

const rapidjson::Value& LiveObject::Value() const {
  std::call_once(parse_once_, [this] {
    auto parsed = std::make_shared<ParsedText>(text_->json);
    parsed_ = std::shared_ptr<const rapidjson::Value>(parsed, &parsed->doc);
    parsed_flag_.store(true, std::memory_order_release);
  });
  return *parsed_;
}

void LiveObject::Peek(const std::function<void(const rapidjson::Value&)>& read) const {
  if (parsed()) {
    read(Value());
    return;
  }
  const ParsedText once(text_->json);
  read(once.doc);
}

const LiveFacts& LiveObject::Facts() const { return text_ ? text_->facts : *facts_; }

std::shared_ptr<const LiveObject> LiveObject::Unparsed(
    const std::shared_ptr<const LiveObject>& object) {
  if (!object->text_) return object;
  return std::make_shared<const LiveObject>(object->text_);
}

}  // namespace pagoda::diff

#include "base/json.h"

#include <gtest/gtest.h>

namespace pagoda::json {
namespace {

rapidjson::Document Doc(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

std::string ParseError(std::string_view text, size_t max_depth = kMaxDepth) {
  rapidjson::Document doc;
  Status s = Parse(text, &doc, max_depth);
  if (!s.ok()) {
    EXPECT_TRUE(doc.IsNull()) << text;
  }
  return s.ok() ? "ok" : s.message();
}

TEST(JsonParse, ParsesOneValue) {
  rapidjson::Document doc;
  ASSERT_TRUE(Parse(R"({"a":[1,{"b":"c"}],"d":null})", &doc).ok());
  EXPECT_EQ(Compact(doc), R"({"a":[1,{"b":"c"}],"d":null})");
  // Not NUL-terminated: only the view is read.
  std::string_view prefix = std::string_view("[1,2]garbage").substr(0, 5);
  ASSERT_TRUE(Parse(prefix, &doc).ok());
  EXPECT_EQ(doc.Size(), 2u);
  EXPECT_EQ(ParseError("\xEF\xBB\xBF[]"), "ok");  // a byte order mark is skipped
}

TEST(JsonParse, SaysWhatIsWrongAndWhere) {
  EXPECT_EQ(ParseError(""), "The document is empty. at offset 0");
  EXPECT_EQ(ParseError("hello"), "Invalid value. at offset 0");
  EXPECT_EQ(ParseError("{"), "Missing a name for object member. at offset 1");
  EXPECT_EQ(ParseError("[1] [2]"),
            "The document root must not be followed by other values. at "
            "offset 4");
  EXPECT_EQ(ParseError("[[[1]]]", 2), "nested deeper than 2 levels at offset 2");
  EXPECT_EQ(ParseError("[[1]]", 2), "ok");
  EXPECT_EQ(ParseError(R"({"a":{"b":{}}})", 2), "nested deeper than 2 levels at offset 10");
}

TEST(JsonParse, DeepNestingIsRefusedWithoutRecursion) {
  // A recursive parser would need a stack frame per level.
  EXPECT_EQ(ParseError(std::string(100000, '[')), "nested deeper than 512 levels at offset 512");
  EXPECT_EQ(ParseError(std::string(100000, '[') + std::string(100000, ']')),
            "nested deeper than 512 levels at offset 512");
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) deep_objects += "{\"a\":";
  EXPECT_EQ(ParseError(deep_objects).rfind("nested deeper than 512 levels", 0), 0u);
  // Without the depth bound, the iterative parser still never recurses.
  EXPECT_EQ(ParseError(std::string(100000, '['), SIZE_MAX), "Invalid value. at offset 100000");
  EXPECT_EQ(ParseError(std::string(512, '[') + std::string(512, ']')), "ok");
}

TEST(JsonLenient, MissingOrMistypedIsEmpty) {
  rapidjson::Document doc =
      Doc(R"({"kind":"Pod","n":3,"metadata":{"name":"web","labels":{"app":"shop"}},"list":[1]})");
  EXPECT_EQ(StringAt(doc, "kind"), "Pod");
  EXPECT_EQ(StringAt(doc, "n"), "");
  EXPECT_EQ(StringAt(doc, "absent"), "");
  EXPECT_EQ(StringAt(doc, {"metadata", "labels", "app"}), "shop");
  EXPECT_EQ(StringAt(doc, {"metadata", "name", "deeper"}), "");
  EXPECT_EQ(StringAt(doc, {"list", "x"}), "");
  EXPECT_EQ(StringAt(doc["list"], "x"), "");  // not an object: no member, no assertion
  ASSERT_NE(Member(doc, "n"), nullptr);
  EXPECT_EQ(Member(doc, "n")->GetInt(), 3);
  EXPECT_EQ(Member(doc["n"], "x"), nullptr);
  EXPECT_EQ(At(doc, {"metadata", "labels"}), &doc["metadata"]["labels"]);
  EXPECT_EQ(At(doc, {"metadata", "nope", "app"}), nullptr);
  // Strings keep what follows a NUL.
  rapidjson::Document nul = Doc(R"({"s":"a\u0000b"})");
  EXPECT_EQ(StringAt(nul, "s"), std::string("a\0b", 3));
}

struct Record {
  std::string id;
  int64_t big = 0;
  int small = 0;
  bool flag = false;
  std::vector<std::string> tags;
  int level = 0;
  std::vector<int> items;
};

Result<int> Level(std::string_view text) {
  if (text == "low") return 1;
  if (text == "high") return 2;
  return Status::InvalidArgument("level '" + std::string(text) + "' is not low or high");
}

Status Read(const Fields& f, Record* r) {
  PAGODA_RETURN_IF_ERROR(f.String("id", &r->id, /*required=*/true));
  PAGODA_RETURN_IF_ERROR(f.Int("big", &r->big));
  PAGODA_RETURN_IF_ERROR(f.Int("small", &r->small));
  PAGODA_RETURN_IF_ERROR(f.Bool("flag", &r->flag));
  PAGODA_RETURN_IF_ERROR(f.Strings("tags", &r->tags));
  PAGODA_RETURN_IF_ERROR(f.Parsed("level", Level, &r->level));
  PAGODA_RETURN_IF_ERROR(f.Object("inner", [&](const Fields& inner) {
    std::string name;
    return inner.String("name", &name, true);
  }));
  return f.Objects("items", [&](const Fields& item) {
    int n = 0;
    PAGODA_RETURN_IF_ERROR(item.Int("n", &n));
    r->items.push_back(n);
    return Status::Ok();
  });
}

std::string Error(std::string_view text) {
  rapidjson::Document doc = Doc(text);
  Record r;
  Status s = Read(Fields(doc, "record."), &r);
  return s.ok() ? "ok" : s.message();
}

TEST(JsonFields, ReadsTypedFields) {
  rapidjson::Document doc =
      Doc(R"({"id":"a","big":5000000000,"small":-7,"flag":true,"tags":["x","y"],"level":"high",)"
          R"("inner":{"name":"n"},"items":[{"n":1},{"n":2}],"unknown":1})");
  Record r;
  Status s = Read(Fields(doc, ""), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.id, "a");
  EXPECT_EQ(r.big, 5000000000);
  EXPECT_EQ(r.small, -7);
  EXPECT_TRUE(r.flag);
  EXPECT_EQ(r.tags, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.level, 2);
  EXPECT_EQ(r.items, (std::vector<int>{1, 2}));
}

TEST(JsonFields, AbsentNullAndEmptyLeaveDefaults) {
  rapidjson::Document doc = Doc(R"({"id":"a","small":null,"level":"","inner":null})");
  Record r;
  r.small = 4;
  r.level = 9;
  ASSERT_TRUE(Read(Fields(doc, ""), &r).ok());
  EXPECT_EQ(r.small, 4);
  EXPECT_EQ(r.level, 9);
}

TEST(JsonFields, ErrorsNameThePath) {
  EXPECT_EQ(Error("{}"), "record.id: missing");
  EXPECT_EQ(Error(R"({"id":null})"), "record.id: missing");
  EXPECT_EQ(Error(R"({"id":1})"), "record.id: not a string");
  EXPECT_EQ(Error(R"({"id":"a","big":1.5})"), "record.big: not an integer");
  EXPECT_EQ(Error(R"({"id":"a","small":3000000000})"), "record.small: out of range");
  EXPECT_EQ(Error(R"({"id":"a","flag":"yes"})"), "record.flag: not a boolean");
  EXPECT_EQ(Error(R"({"id":"a","tags":"x"})"), "record.tags: not a list");
  EXPECT_EQ(Error(R"({"id":"a","tags":["x",2]})"),
            "record.tags: holds something other than a string");
  EXPECT_EQ(Error(R"({"id":"a","level":"mid"})"), "record.level: level 'mid' is not low or high");
  EXPECT_EQ(Error(R"({"id":"a","inner":[]})"), "record.inner: not an object");
  EXPECT_EQ(Error(R"({"id":"a","inner":{}})"), "record.inner.name: missing");
  EXPECT_EQ(Error(R"({"id":"a","items":{}})"), "record.items: not a list");
  EXPECT_EQ(Error(R"({"id":"a","items":[{"n":1},7]})"), "record.items[1]: not an object");
  EXPECT_EQ(Error(R"({"id":"a","items":[{"n":1},{"n":"2"}]})"),
            "record.items[1].n: not an integer");
  rapidjson::Document doc = Doc("{}");
  EXPECT_EQ(Fields(doc, "x.").Error("y", "bad").code(), Status::Code::kInvalidArgument);
}

TEST(JsonWriting, KeysStringsAndCompact) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  String(w, "a", std::string_view("b\0c", 3));
  Key(w, "n");
  w.Int(1);
  w.EndObject();
  EXPECT_EQ(std::string(buffer.GetString(), buffer.GetSize()), R"({"a":"b\u0000c","n":1})");
  EXPECT_EQ(Compact(Doc(" { \"x\" : [ 1 , true ] } ")), R"({"x":[1,true]})");
}

}  // namespace
}  // namespace pagoda::json

#include "base/yaml.h"

#include <gtest/gtest.h>

#include <chrono>

namespace pagoda {
namespace {

YamlResult Read(std::string_view text) { return ReadYaml(text, YamlLimits{}); }

TEST(YamlReader, RemembersLinesAndColumns) {
  YamlResult r = Read("a: 1\nb:\n  - x\n  - {c: \"d\"}\n");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.documents.size(), 1u);
  const YamlNode& root = r.documents[0].root;
  ASSERT_EQ(root.entries.size(), 2u);
  EXPECT_EQ(root.entries[1].key, "b");
  EXPECT_EQ(root.entries[1].key_pos.line, 2);
  const YamlNode& list = root.entries[1].value;
  ASSERT_TRUE(list.IsSequence());
  EXPECT_EQ(list.items[1].entries[0].value.pos.line, 4);
  EXPECT_EQ(list.items[1].entries[0].value.pos.column, 9);
  EXPECT_FALSE(list.items[1].entries[0].value.plain);
  EXPECT_TRUE(root.entries[0].value.plain);
}

TEST(YamlReader, FindsKeysAndSaysWhere) {
  YamlResult r = Read("a: 1\nb:\nc: [x]\n");
  ASSERT_TRUE(r.ok) << r.error;
  const YamlNode& root = r.documents[0].root;
  ASSERT_NE(root.Find("a"), nullptr);
  EXPECT_EQ(root.Find("a")->scalar, "1");
  ASSERT_NE(root.Find("b"), nullptr);  // present, and null
  EXPECT_TRUE(root.Find("b")->IsNull());
  EXPECT_EQ(root.Find("d"), nullptr);
  EXPECT_EQ(root.Find("c")->Find("x"), nullptr);  // not a mapping
  EXPECT_EQ(FilePos("f.yaml", root.Find("c")->pos), "f.yaml:3:4");
  EXPECT_EQ(FilePos("f.yaml", Pos{}), "f.yaml");
}

TEST(YamlReader, NullValuesPointAtTheirKey) {
  YamlResult r = Read("a:\nb: ~\n");
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.documents[0].root.entries[0].value.IsNull());
  EXPECT_EQ(r.documents[0].root.entries[0].value.pos.line, 1);
}

TEST(YamlReader, DuplicateKeysAreErrors) {
  YamlResult r = Read("a: 1\nb: 2\na: 3\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "duplicate key \"a\" (first at line 1)");
  EXPECT_EQ(r.error_pos.line, 3);
  // Past the size where the reader switches to an index.
  std::string big;
  for (int i = 0; i < 40; ++i) big += "k" + std::to_string(i) + ": 1\n";
  EXPECT_TRUE(Read(big).ok);
  r = Read(big + "k7: 2\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "duplicate key \"k7\" (first at line 8)");
}

TEST(YamlReader, MergeKeysAndComplexKeysAreRefused) {
  EXPECT_FALSE(Read("a: &x {b: 1}\nc:\n  <<: *x\n").ok);
  YamlResult r = Read("? [a, b]\n: 1\n");
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.error.find("a mapping key must be a plain string"), std::string::npos);
}

TEST(YamlReader, AliasesAreCopiedWithinTheBound) {
  YamlResult r = Read("a: &x {b: 1}\nc: *x\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.documents[0].root.entries[1].value.entries[0].value.scalar, "1");
}

TEST(YamlReader, BillionLaughsFailsFast) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  const char* names = "abcdefghij";
  for (int i = 1; i < 10; ++i) {
    text += std::string(1, names[i]) + ": &" + names[i] + " [";
    for (int j = 0; j < 10; ++j) text += std::string(j ? ", " : "") + "*" + names[i - 1];
    text += "]\n";
  }
  auto start = std::chrono::steady_clock::now();
  YamlResult r = Read(text);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.error.find("expands to more than 100000 YAML nodes"), std::string::npos);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(YamlReader, AliasesAreCountedAndBounded) {
  std::string text = "a: &a v\nb: [";
  for (int i = 0; i < 11; ++i) text += std::string(i ? "," : "") + "*a";
  text += "]\n";
  YamlResult r =
      ReadYaml(text, {.max_depth = 32, .max_nodes = 1000, .max_bytes = 1000, .max_aliases = 10});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "the file names anchors more than 10 times (aliases); refusing to read it");
  EXPECT_EQ(r.error_pos.line, 2);
  EXPECT_TRUE(
      ReadYaml(text, {.max_depth = 32, .max_nodes = 1000, .max_bytes = 1000, .max_aliases = 11})
          .ok);
}

TEST(YamlReader, CopiesCountTheirBytes) {
  std::string text = "a: &a " + std::string(100, 'x') + "\nb: [*a, *a, *a]\n";
  YamlResult r = ReadYaml(text, {.max_depth = 32, .max_nodes = 1000, .max_bytes = 350});
  ASSERT_FALSE(r.ok);
  EXPECT_TRUE(r.over_bytes);
  EXPECT_EQ(r.error,
            "the file expands to more than 350 bytes of text (aliases count each copy); refusing "
            "to read it");
  r = ReadYaml(text, {.max_depth = 32, .max_nodes = 1000, .max_bytes = 500});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.bytes, 2u + 100 + 300);  // keys a and b, the string, and its three copies
}

TEST(YamlReader, NestingIsBounded) {
  EXPECT_TRUE(Read(std::string(31, '[') + std::string(31, ']')).ok);
  YamlResult r = Read(std::string(33, '[') + std::string(33, ']'));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "nesting deeper than 32 levels");
  // Far deeper than yaml-cpp's own recursion would like: still a clean error.
  EXPECT_FALSE(Read(std::string(100000, '[')).ok);
}

TEST(YamlReader, SyntaxErrorsCarryTheirPosition) {
  YamlResult r = Read("a: 1\nb: [1, 2\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("YAML does not parse: ", 0), 0u);
  EXPECT_GT(r.error_pos.line, 0);
}

TEST(YamlReader, TagsOtherThanStrAreRefused) {
  EXPECT_TRUE(Read("a: !!str 5\n").ok);
  EXPECT_FALSE(Read("a: !!binary aGVsbG8=\n").ok);
  EXPECT_FALSE(Read("a: !custom x\n").ok);
}

TEST(YamlReader, SeveralDocumentsEmptyOnesDropped) {
  YamlResult r = Read("a: 1\n---\n---\nb: 2\n---\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.documents.size(), 2u);
}

TEST(YamlReader, CoreSchemaResolution) {
  int64_t i = 0;
  bool b = false;
  EXPECT_TRUE(IsYamlInt("42", &i));
  EXPECT_EQ(i, 42);
  EXPECT_TRUE(IsYamlInt("-7", &i));
  EXPECT_EQ(i, -7);
  EXPECT_TRUE(IsYamlInt("0x1f", &i));
  EXPECT_EQ(i, 31);
  EXPECT_FALSE(IsYamlInt("4.0", &i));
  EXPECT_FALSE(IsYamlInt("99999999999999999999", &i));
  EXPECT_TRUE(IsYamlBool("True", &b));
  EXPECT_FALSE(IsYamlBool("yes", &b));
  EXPECT_TRUE(IsYamlFloat("0.5"));
  EXPECT_TRUE(IsYamlFloat("1e3"));
  EXPECT_FALSE(IsYamlFloat("1.4.2"));
  EXPECT_TRUE(IsYamlNull("~"));
  EXPECT_FALSE(IsYamlNull("none"));
}

}  // namespace
}  // namespace pagoda

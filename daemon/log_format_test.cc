#include "daemon/log_format.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <spdlog/details/log_msg.h>

namespace pagoda::daemon {
namespace {

rapidjson::Document Format(spdlog::level::level_enum level, const std::string& text) {
  auto f = NewJsonLogFormatter();
  spdlog::details::log_msg msg("pagoda", level, text);
  spdlog::memory_buf_t buf;
  f->format(msg, buf);
  std::string line(buf.data(), buf.size());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  EXPECT_FALSE(doc.HasParseError()) << line;
  return doc;
}

TEST(LogFormatTest, ReleaseLinesCarryTheirFieldsAsJsonFields) {
  auto doc = Format(spdlog::level::info,
                    "release=r-000004 app=shop env=prod revision=5d1c commit=3f2a9c1 rollout "
                    "started (3 changes)");
  EXPECT_STREQ(doc["level"].GetString(), "info");
  EXPECT_STREQ(doc["msg"].GetString(), "rollout started (3 changes)");
  EXPECT_STREQ(doc["release"].GetString(), "r-000004");
  EXPECT_STREQ(doc["app"].GetString(), "shop");
  EXPECT_STREQ(doc["env"].GetString(), "prod");
  EXPECT_STREQ(doc["revision"].GetString(), "5d1c");
  EXPECT_STREQ(doc["commit"].GetString(), "3f2a9c1");
  std::string time = doc["time"].GetString();
  EXPECT_EQ(time.size(), 24u) << time;
  EXPECT_EQ(time.back(), 'Z');
}

TEST(LogFormatTest, EscapesAndKeepsOtherWords) {
  auto doc = Format(spdlog::level::warn, "say \"hi\"\\ to\tyou\nx=1 app=a app=b \x01");
  EXPECT_STREQ(doc["level"].GetString(), "warning");
  EXPECT_STREQ(doc["msg"].GetString(), "say \"hi\"\\ to\tyou\nx=1 app=b \x01");
  EXPECT_STREQ(doc["app"].GetString(), "a");
  EXPECT_FALSE(doc.HasMember("x"));
}

}  // namespace
}  // namespace pagoda::daemon

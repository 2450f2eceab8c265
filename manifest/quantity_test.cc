#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "manifest/names.h"

namespace pagoda::manifest {
namespace {

TEST(Quantity, Cpu) {
  EXPECT_EQ(*ParseCpu("0.5"), 500);
  EXPECT_EQ(*ParseCpu("500m"), 500);
  EXPECT_EQ(*ParseCpu("2"), 2000);
  EXPECT_EQ(*ParseCpu("0"), 0);
  EXPECT_EQ(*ParseCpu(".25"), 250);
  EXPECT_EQ(*ParseCpu("7.5"), 7500);
  EXPECT_FALSE(ParseCpu("-1").ok());
  EXPECT_FALSE(ParseCpu("0.0001").ok());
  EXPECT_FALSE(ParseCpu("1.5m").ok());
  EXPECT_FALSE(ParseCpu("1k").ok());
  EXPECT_FALSE(ParseCpu("").ok());
  EXPECT_FALSE(ParseCpu("abc").ok());
  EXPECT_FALSE(ParseCpu("99999999999999999999").ok());
}

TEST(Quantity, Memory) {
  EXPECT_EQ(*ParseMemory("512Mi"), int64_t{512} << 20);
  EXPECT_EQ(*ParseMemory("1G"), 1000000000);
  EXPECT_EQ(*ParseMemory("1Gi"), int64_t{1} << 30);
  EXPECT_EQ(*ParseMemory("1.5Gi"), int64_t{3} << 29);
  EXPECT_EQ(*ParseMemory("0"), 0);
  EXPECT_EQ(*ParseMemory("1024"), 1024);
  EXPECT_EQ(*ParseMemory("15Gi"), int64_t{15} << 30);
  EXPECT_FALSE(ParseMemory("512m").ok());
  EXPECT_FALSE(ParseMemory("-1Gi").ok());
  EXPECT_FALSE(ParseMemory("1.5").ok());  // not a whole number of bytes
  EXPECT_FALSE(ParseMemory("1GB").ok());
  EXPECT_FALSE(ParseMemory("2Ei").ok());
}

TEST(Quantity, Duration) {
  EXPECT_EQ(*ParseDuration("30s"), 30000);
  EXPECT_EQ(*ParseDuration("5m"), 300000);
  EXPECT_EQ(*ParseDuration("1h30m"), 5400000);
  EXPECT_EQ(*ParseDuration("500ms"), 500);
  EXPECT_EQ(*ParseDuration("0"), 0);
  EXPECT_FALSE(ParseDuration("30").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("1.5s").ok());
  EXPECT_FALSE(ParseDuration("5 m").ok());
  EXPECT_FALSE(ParseDuration("1d").ok());
  EXPECT_FALSE(ParseDuration("9999999h").ok());
}

TEST(Quantity, CanonicalSpellings) {
  EXPECT_EQ(FormatCpu(500), "500m");
  EXPECT_EQ(FormatCpu(2000), "2");
  EXPECT_EQ(FormatMemory(int64_t{512} << 20), "512Mi");
  EXPECT_EQ(FormatMemory(1000000000), "1G");
  EXPECT_EQ(FormatMemory(1000), "1k");
  EXPECT_EQ(FormatMemory(1001), "1001");
}

TEST(Quantity, NodeAllocatable) {
  Result<NodeAllocatable> node = ParseNodeAllocatable("cpu=7.5,memory=15Gi");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->millicpu, 7500);
  EXPECT_EQ(node->memory_bytes, int64_t{15} << 30);
  EXPECT_EQ(ParseNodeAllocatable("memory=1Gi")->millicpu, 0);
  EXPECT_FALSE(ParseNodeAllocatable("cpu").ok());
  EXPECT_FALSE(ParseNodeAllocatable("disk=1Gi").ok());
  EXPECT_FALSE(ParseNodeAllocatable("cpu=lots").ok());
}

TEST(Names, AsKubernetesJudgesThem) {
  EXPECT_EQ(CheckDns1123Label("shop-web"), "");
  EXPECT_EQ(CheckDns1123Label("1shop"), "");
  EXPECT_NE(CheckDns1123Label("Shop"), "");
  EXPECT_NE(CheckDns1123Label("-shop"), "");
  EXPECT_NE(CheckDns1123Label("shop-"), "");
  EXPECT_NE(CheckDns1123Label(std::string(64, 'a')), "");
  EXPECT_EQ(CheckDns1123Label(std::string(63, 'a')), "");
  EXPECT_NE(CheckDns1035Label("1prod"), "");
  EXPECT_EQ(CheckDns1123Subdomain("shop.example.com"), "");
  EXPECT_NE(CheckDns1123Subdomain("shop..example"), "");
  EXPECT_EQ(CheckHost("*.example.com"), "");
  EXPECT_NE(CheckHost("shop_example"), "");
  EXPECT_EQ(CheckConfigMapKey("app_config.yaml"), "");
  EXPECT_NE(CheckConfigMapKey(".."), "");
  EXPECT_NE(CheckConfigMapKey("a b"), "");
  EXPECT_NE(CheckConfigMapKey(std::string(254, 'a')), "");
  EXPECT_EQ(CheckEnvVarName("JAVA_OPTS"), "");
  EXPECT_EQ(CheckEnvVarName("my.var-1"), "");
  EXPECT_NE(CheckEnvVarName("1X"), "");
  EXPECT_NE(CheckEnvVarName("A B"), "");
  EXPECT_EQ(CheckLabelValue(""), "");
  EXPECT_EQ(CheckLabelValue("v1.2_x"), "");
  EXPECT_NE(CheckLabelValue("-x"), "");
  EXPECT_EQ(CheckPortName("http"), "");
  EXPECT_NE(CheckPortName("8080"), "");
  EXPECT_NE(CheckPortName("a--b"), "");
  EXPECT_NE(CheckPortName("a-very-long-port-name"), "");
  EXPECT_EQ(CheckAbsolutePath("/app/config/a.conf"), "");
  EXPECT_NE(CheckAbsolutePath("/"), "");
  EXPECT_NE(CheckAbsolutePath("/a//b"), "");
  EXPECT_NE(CheckAbsolutePath("/a/"), "");
  EXPECT_TRUE(PathIsAtOrUnder("/data/x", "/data"));
  EXPECT_FALSE(PathIsAtOrUnder("/database", "/data"));
}

}  // namespace
}  // namespace pagoda::manifest

#include "policy/gate.h"

#include <gtest/gtest.h>

namespace pagoda::policy {
namespace {

TEST(Gate, ConditionsParseAndHold) {
  Result<Condition> ge = ParseCondition(">= 0.99");
  ASSERT_TRUE(ge.ok());
  EXPECT_TRUE(ge->Holds(0.99));
  EXPECT_TRUE(ge->Holds(1));
  EXPECT_FALSE(ge->Holds(0.98));
  EXPECT_EQ(ge->ToString(), ">= 0.99");
  Result<Condition> lt = ParseCondition("<5");
  ASSERT_TRUE(lt.ok());
  EXPECT_TRUE(lt->Holds(4.9));
  EXPECT_FALSE(lt->Holds(5));
  EXPECT_EQ(lt->ToString(), "< 5");
  EXPECT_TRUE(ParseCondition(" == 1 ")->Holds(1));
  EXPECT_TRUE(ParseCondition("!= 0")->Holds(2));
  EXPECT_TRUE(ParseCondition("> -1e3")->Holds(0));
  EXPECT_TRUE(ParseCondition("<= 10")->Holds(10));
}

TEST(Gate, ABadConditionSaysWhy) {
  EXPECT_EQ(ParseCondition("0.99").status().message(),
            "\"0.99\" is not a condition: use one of >= > <= < == != and a number, e.g. \">= "
            "0.99\"");
  EXPECT_EQ(ParseCondition(">= lots").status().message(),
            "\">= lots\": \"lots\" is not a finite number after >=");
  EXPECT_FALSE(ParseCondition(">=").ok());
  EXPECT_FALSE(ParseCondition("> inf").ok());
  EXPECT_FALSE(ParseCondition("> nan").ok());
  EXPECT_FALSE(ParseCondition("=> 1").ok());
}

TEST(Gate, TheFirstValueOfAVectorOrAScalar) {
  EXPECT_EQ(*FirstValue(R"({"status":"success","data":{"resultType":"vector","result":[)"
                        R"({"metric":{"job":"web"},"value":[1714557600.5,"0.995"]},)"
                        R"({"metric":{"job":"api"},"value":[1714557600.5,"0.5"]}]}})"),
            0.995);
  EXPECT_EQ(*FirstValue(R"({"status":"success","data":{"resultType":"scalar",)"
                        R"("result":[1714557600,"42"]}})"),
            42);
}

TEST(Gate, AnAnswerWithoutAValueSaysWhy) {
  EXPECT_EQ(FirstValue(R"({"status":"success","data":{"resultType":"vector","result":[]}})")
                .status()
                .message(),
            "the query found no series");
  EXPECT_EQ(FirstValue(R"({"status":"error","errorType":"bad_data","error":"parse error at 3"})")
                .status()
                .message(),
            "the query failed: parse error at 3");
  EXPECT_EQ(FirstValue(R"({"status":"success","data":{"resultType":"matrix","result":[]}})")
                .status()
                .message(),
            "the query gives a matrix, not a vector or a scalar");
  EXPECT_EQ(FirstValue(R"({"status":"success","data":{"resultType":"scalar",)"
                       R"("result":[1,"NaN"]}})")
                .status()
                .message(),
            "\"NaN\" is not a finite number");
  EXPECT_FALSE(FirstValue("<html>proxy error</html>").ok());
  EXPECT_FALSE(FirstValue(R"({"status":"success","data":{"resultType":"vector",)"
                          R"("result":[{"value":[1]}]}})")
                   .ok());
}

TEST(Gate, AGatePassesAfterCountChecksAndFailsPastItsLimit) {
  Gate gate;
  gate.count = 3;
  gate.failure_limit = 1;
  EXPECT_EQ(Judge(gate, {2, 1, 0, {}}), GateVerdict::kPending);
  EXPECT_EQ(Judge(gate, {3, 1, 0, {}}), GateVerdict::kPassed);
  EXPECT_EQ(Judge(gate, {2, 2, 0, {}}), GateVerdict::kFailed);
  gate.failure_limit = 0;
  EXPECT_EQ(Judge(gate, {5, 1, 0, {}}), GateVerdict::kFailed) << "a failure past the limit wins";
  EXPECT_EQ(Judge(gate, {2, 0, 40, {}}), GateVerdict::kPending) << "no data counts neither way";
}

TEST(Gate, AConditionMayNameTheResultAndAQueryTheRelease) {
  EXPECT_EQ(ParseCondition("result[0] >= 0.99")->ToString(), ">= 0.99");
  EXPECT_EQ(ParseCondition("result < 5")->ToString(), "< 5");
  EXPECT_FALSE(ParseCondition("result[1] < 5").ok());
  EXPECT_EQ(
      ExpandQuery("up{namespace=\"{{namespace}}\",revision=\"{{revision}}\"} {{env}}/{{app}} {{x}}",
                  {"7d9f8c2b1a", "shop", "prod", "shop"}),
      "up{namespace=\"shop\",revision=\"7d9f8c2b1a\"} prod/shop {{x}}");
  EXPECT_TRUE(CheckQuery("sum(up{namespace=\"{{namespace}}\"}) {{revision}}").ok());
  EXPECT_EQ(CheckQuery("up{pod=\"{{pod}}\"}").message(),
            "{{pod}} is not one of {{revision}}, {{app}}, {{env}}, {{namespace}}");
  EXPECT_FALSE(CheckQuery("up{{namespace").ok());
}

}  // namespace
}  // namespace pagoda::policy

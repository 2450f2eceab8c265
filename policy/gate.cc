#include "policy/gate.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace pagoda::policy {
namespace {

struct Operator {
  std::string_view text;
  Comparison op;
};
// Two-character operators first, so that ">=" is not read as ">".
constexpr Operator kOperators[] = {
    {">=", Comparison::kGreaterOrEqual}, {"<=", Comparison::kLessOrEqual},
    {"==", Comparison::kEqual},          {"!=", Comparison::kNotEqual},
    {">", Comparison::kGreater},         {"<", Comparison::kLess},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<double> Number(std::string_view text) {
  const std::string s(Trim(text));
  if (s.empty()) return Status::InvalidArgument("no number");
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) {
    return Status::InvalidArgument("\"" + s + "\" is not a finite number");
  }
  return v;
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

bool Condition::Holds(double value) const {
  switch (op) {
    case Comparison::kGreaterOrEqual:
      return value >= threshold;
    case Comparison::kGreater:
      return value > threshold;
    case Comparison::kLessOrEqual:
      return value <= threshold;
    case Comparison::kLess:
      return value < threshold;
    case Comparison::kEqual:
      return value == threshold;
    case Comparison::kNotEqual:
      return value != threshold;
  }
  return false;
}

std::string Condition::ToString() const {
  for (const Operator& o : kOperators) {
    if (o.op == op) return std::string(o.text) + " " + FormatNumber(threshold);
  }
  return FormatNumber(threshold);
}

Result<Condition> ParseCondition(std::string_view text) {
  std::string_view s = Trim(text);
  for (std::string_view subject : {"result[0]", "result"}) {
    if (s.starts_with(subject)) {
      s = Trim(s.substr(subject.size()));
      break;
    }
  }
  for (const Operator& o : kOperators) {
    if (!s.starts_with(o.text)) continue;
    Result<double> n = Number(s.substr(o.text.size()));
    if (!n.ok()) {
      return Status::InvalidArgument("\"" + std::string(s) + "\": " + n.status().message() +
                                     " after " + std::string(o.text));
    }
    return Condition{o.op, *n};
  }
  return Status::InvalidArgument("\"" + std::string(s) +
                                 "\" is not a condition: use one of >= > <= < == != and a "
                                 "number, e.g. \">= 0.99\"");
}

Result<double> FirstValue(std::string_view answer) {
  rapidjson::Document doc;
  doc.Parse(answer.data(), answer.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Status::InvalidArgument("the answer is not a Prometheus API answer");
  }
  auto str = [](const rapidjson::Value& v, const char* key) -> std::string {
    return v.IsObject() && v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "";
  };
  if (str(doc, "status") != "success") {
    const std::string error = str(doc, "error");
    return Status::InvalidArgument("the query failed: " +
                                   (error.empty() ? std::string("no reason given") : error));
  }
  if (!doc.HasMember("data") || !doc["data"].IsObject()) {
    return Status::InvalidArgument("the answer has no data");
  }
  const rapidjson::Value& data = doc["data"];
  const std::string type = str(data, "resultType");
  if (!data.HasMember("result")) return Status::InvalidArgument("the answer has no result");
  const rapidjson::Value* sample = nullptr;
  if (type == "vector") {
    if (!data["result"].IsArray() || data["result"].Empty()) {
      return Status::NotFound("the query found no series");
    }
    const rapidjson::Value& first = data["result"][0];
    if (first.IsObject() && first.HasMember("value")) sample = &first["value"];
  } else if (type == "scalar") {
    sample = &data["result"];
  } else {
    return Status::InvalidArgument("the query gives a " + (type.empty() ? "nothing" : type) +
                                   ", not a vector or a scalar");
  }
  // A sample is [time, "value"].
  if (sample == nullptr || !sample->IsArray() || sample->Size() != 2 || !(*sample)[1].IsString()) {
    return Status::InvalidArgument("the answer's sample is not [time, \"value\"]");
  }
  return Number((*sample)[1].GetString());
}

namespace {
constexpr std::string_view kPlaceholders[] = {"revision", "app", "env", "namespace"};
}  // namespace

std::string ExpandQuery(std::string_view query, const QueryVars& vars) {
  const std::string_view values[] = {vars.revision, vars.app, vars.env, vars.namespace_name};
  std::string out;
  for (size_t i = 0; i < query.size();) {
    bool replaced = false;
    for (size_t p = 0; p < std::size(kPlaceholders); ++p) {
      const std::string token = "{{" + std::string(kPlaceholders[p]) + "}}";
      if (query.substr(i, token.size()) == token) {
        out += values[p];
        i += token.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += query[i++];
  }
  return out;
}

Status CheckQuery(std::string_view query) {
  for (size_t at = query.find("{{"); at != std::string_view::npos; at = query.find("{{", at + 2)) {
    const size_t end = query.find("}}", at);
    const std::string_view name =
        end == std::string_view::npos ? query.substr(at + 2) : query.substr(at + 2, end - at - 2);
    if (end == std::string_view::npos ||
        std::find(std::begin(kPlaceholders), std::end(kPlaceholders), name) ==
            std::end(kPlaceholders)) {
      return Status::InvalidArgument("{{" + std::string(name) +
                                     (end == std::string_view::npos ? "" : "}}") +
                                     " is not one of {{revision}}, {{app}}, {{env}}, "
                                     "{{namespace}}");
    }
  }
  return Status::Ok();
}

GateVerdict Judge(const Gate& gate, const GateTally& tally) {
  if (tally.failed > gate.failure_limit) return GateVerdict::kFailed;
  if (tally.passed >= gate.count) return GateVerdict::kPassed;
  return GateVerdict::kPending;
}

}  // namespace pagoda::policy

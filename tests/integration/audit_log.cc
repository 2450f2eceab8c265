#include "tests/integration/audit_log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "tests/integration/test_cluster.h"

namespace pagoda::testing {
namespace {

const rapidjson::Value* Member(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string String(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* v = Member(object, key);
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

// The spec of a Lease (or of a patch to one) in `object`, when it has one.
std::optional<AuditLeaseSpec> LeaseSpec(const rapidjson::Value& event, const char* key) {
  const rapidjson::Value* object = Member(event, key);
  const rapidjson::Value* spec = object != nullptr ? Member(*object, "spec") : nullptr;
  if (spec == nullptr || !spec->IsObject()) return std::nullopt;
  AuditLeaseSpec lease;
  if (const rapidjson::Value* h = Member(*spec, "holderIdentity"); h != nullptr && h->IsString()) {
    lease.holder_identity = std::string(h->GetString(), h->GetStringLength());
  }
  if (const rapidjson::Value* t = Member(*spec, "leaseTransitions"); t != nullptr && t->IsInt64()) {
    lease.lease_transitions = t->GetInt64();
  }
  return lease;
}

// The digits of text[*pos, *pos + n) as a number; false when they are not n digits.
bool Digits(std::string_view text, size_t* pos, size_t n, int* out) {
  if (*pos + n > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

}  // namespace

Result<int64_t> ParseAuditTime(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("not an RFC 3339 time in UTC: \"" + std::string(text) + "\"");
  };
  std::tm tm{};
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!Digits(text, &pos, 4, &year) || pos >= text.size() || text[pos++] != '-' ||
      !Digits(text, &pos, 2, &month) || pos >= text.size() || text[pos++] != '-' ||
      !Digits(text, &pos, 2, &day) || pos >= text.size() || text[pos++] != 'T' ||
      !Digits(text, &pos, 2, &hour) || pos >= text.size() || text[pos++] != ':' ||
      !Digits(text, &pos, 2, &minute) || pos >= text.size() || text[pos++] != ':' ||
      !Digits(text, &pos, 2, &second)) {
    return bad();
  }
  int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100000;
    size_t digits = 0;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
      micros += (text[pos] - '0') * scale;  // past microseconds, scale is 0
      scale /= 10;
    }
    if (digits == 0) return bad();
  }
  if (pos + 1 != text.size() || text[pos] != 'Z' || month < 1 || month > 12 || day < 1 ||
      day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + micros;
}

Result<AuditEvent> ParseAuditEvent(std::string_view line) {
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Status::InvalidArgument("not a JSON object: " + std::string(line.substr(0, 200)));
  }
  if (String(doc, "kind") != "Event") {
    return Status::InvalidArgument("not an audit event: " + std::string(line.substr(0, 200)));
  }
  AuditEvent e;
  e.audit_id = String(doc, "auditID");
  e.stage = String(doc, "stage");
  e.verb = String(doc, "verb");
  e.user_agent = String(doc, "userAgent");
  if (const rapidjson::Value* user = Member(doc, "user")) e.username = String(*user, "username");
  if (const rapidjson::Value* user = Member(doc, "impersonatedUser")) {
    e.impersonated_username = String(*user, "username");
  }
  for (auto [key, out] : {std::pair{"requestReceivedTimestamp", &e.received_us},
                          std::pair{"stageTimestamp", &e.stage_us}}) {
    const std::string text = String(doc, key);
    if (text.empty()) continue;
    auto time = ParseAuditTime(text);
    if (!time.ok()) return time.status().WithContext(key);
    *out = *time;
  }
  if (const rapidjson::Value* ref = Member(doc, "objectRef")) {
    e.resource = String(*ref, "resource");
    e.api_group = String(*ref, "apiGroup");
    e.ns = String(*ref, "namespace");
    e.name = String(*ref, "name");
    e.subresource = String(*ref, "subresource");
  }
  if (const rapidjson::Value* response = Member(doc, "responseStatus")) {
    if (const rapidjson::Value* code = Member(*response, "code");
        code != nullptr && code->IsInt()) {
      e.code = code->GetInt();
    }
  }
  if (e.resource == "leases" && e.api_group == "coordination.k8s.io") {
    e.request_lease = LeaseSpec(doc, "requestObject");
    e.response_lease = LeaseSpec(doc, "responseObject");
  }
  return e;
}

std::string AuditEvent::ToString() const {
  std::ostringstream out;
  out << verb << " " << resource << (api_group.empty() ? "" : "." + api_group)
      << (subresource.empty() ? "" : "/" + subresource) << " " << (ns.empty() ? "" : ns + "/")
      << name << " -> " << code << " by " << username;
  if (!impersonated_username.empty()) out << " as " << impersonated_username;
  out << " (" << user_agent << ")";
  for (auto [what, lease] :
       {std::pair{"sent", &request_lease}, std::pair{"returned", &response_lease}}) {
    if (!lease->has_value()) continue;
    out << ", " << what << " holder " << (*lease)->holder_identity.value_or("(none)")
        << " transitions "
        << ((*lease)->lease_transitions ? std::to_string(*(*lease)->lease_transitions) : "(none)");
  }
  return out.str();
}

AuditLog AuditLog::OfTestCluster() { return AuditLog(TestCluster::Get().audit_log); }

Result<uint64_t> AuditLog::Size() const {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) {
    return Status::IOError(path_ + ": " + std::strerror(errno));
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<AuditEvent>> AuditLog::Read(uint64_t offset, uint64_t* next) const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::IOError(path_ + ": cannot open it");
  // From the byte before `offset`: when that is not a newline, `offset` is
  // inside a line, which is skipped.
  const uint64_t from = offset > 0 ? offset - 1 : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IOError(path_ + ": cannot read it");
  size_t pos = 0;
  if (offset > 0) {
    size_t nl = text.find('\n');
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  std::vector<AuditEvent> events;
  while (true) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // not all written yet
    std::string_view line(text.data() + pos, nl - pos);
    if (!line.empty()) {
      auto event = ParseAuditEvent(line);
      if (!event.ok()) {
        return Status::Corruption(path_ + " at offset " + std::to_string(from + pos) + ": " +
                                  event.status().message());
      }
      events.push_back(std::move(*event));
    }
    pos = nl + 1;
  }
  if (next != nullptr) *next = std::max<uint64_t>(offset, from + pos);
  return events;
}

std::optional<AuditEvent> AuditLog::WaitFor(uint64_t offset,
                                            const std::function<bool(const AuditEvent&)>& match,
                                            std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    uint64_t next = offset;
    auto events = Read(offset, &next);
    if (!events.ok()) {
      ADD_FAILURE() << events.status().ToString();
      return std::nullopt;
    }
    for (const AuditEvent& e : *events) {
      if (match(e)) return e;
    }
    offset = next;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace pagoda::testing

#include "kube/lease.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

#include "base/json.h"
#include "kube/kube.h"

namespace pagoda::kube {
namespace {

using std::chrono::milliseconds;

// A DNS subdomain name (RFC 1123), as the API server wants a Lease's: it is
// also what keeps a name from reaching into another path of the URL.
Status CheckName(const std::string& name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !name.empty() && name.size() <= 253 && alnum(name.front()) && alnum(name.back());
  for (char c : name) ok = ok && (alnum(c) || c == '-' || c == '.');
  if (ok) return Status::Ok();
  return Status::InvalidArgument("Lease name \"" + name +
                                 "\": not a DNS subdomain name (a-z, 0-9, '-', '.')");
}

Status CheckVersion(const std::string& name, const LeaseStore::Versioned& v) {
  if (!v.resource_version.empty()) return Status::Ok();
  return Status::InvalidArgument("update of Lease " + name + " without a resourceVersion");
}

// ---- The API server's Leases ----------------------------------------------------

constexpr std::string_view kLeases = "/apis/coordination.k8s.io/v1/namespaces/";

int64_t IntAt(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* v = json::Member(object, name);
  return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
}

Result<LeaseStore::Versioned> FromLease(const rapidjson::Value& lease) {
  LeaseStore::Versioned out;
  out.resource_version = json::StringAt(lease, {"metadata", "resourceVersion"});
  if (out.resource_version.empty()) {
    return Status::Internal("Lease " + json::StringAt(lease, {"metadata", "name"}) +
                            ": the API server's answer has no metadata.resourceVersion");
  }
  if (const rapidjson::Value* a = json::At(lease, {"metadata", "annotations"});
      a != nullptr && a->IsObject()) {
    for (const auto& m : a->GetObject()) {
      if (m.value.IsString()) out.record.annotations[m.name.GetString()] = m.value.GetString();
    }
  }
  if (const rapidjson::Value* spec = json::Member(lease, "spec"); spec != nullptr) {
    out.record.holder = json::StringAt(*spec, "holderIdentity");
    out.record.duration_seconds = IntAt(*spec, "leaseDurationSeconds");
    out.record.acquire_time = json::StringAt(*spec, "acquireTime");
    out.record.renew_time = json::StringAt(*spec, "renewTime");
    out.record.transitions = IntAt(*spec, "leaseTransitions");
  }
  return out;
}

rapidjson::Document ToLease(const std::string& ns, const std::string& name, const LeaseRecord& r,
                            const std::string& resource_version) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  auto str = [&a](std::string_view s) { return rapidjson::Value(s.data(), s.size(), a); };
  doc.AddMember("apiVersion", "coordination.k8s.io/v1", a);
  doc.AddMember("kind", "Lease", a);
  rapidjson::Value meta(rapidjson::kObjectType);
  meta.AddMember("name", str(name), a);
  meta.AddMember("namespace", str(ns), a);
  if (!resource_version.empty()) meta.AddMember("resourceVersion", str(resource_version), a);
  if (!r.annotations.empty()) {
    rapidjson::Value annotations(rapidjson::kObjectType);
    for (const auto& [k, v] : r.annotations) annotations.AddMember(str(k), str(v), a);
    meta.AddMember("annotations", annotations, a);
  }
  doc.AddMember("metadata", meta, a);
  rapidjson::Value spec(rapidjson::kObjectType);
  spec.AddMember("holderIdentity", str(r.holder), a);
  // The API server refuses a duration <= 0 and a time that is not one.
  if (r.duration_seconds > 0) spec.AddMember("leaseDurationSeconds", r.duration_seconds, a);
  if (!r.acquire_time.empty()) spec.AddMember("acquireTime", str(r.acquire_time), a);
  if (!r.renew_time.empty()) spec.AddMember("renewTime", str(r.renew_time), a);
  spec.AddMember("leaseTransitions", r.transitions, a);
  doc.AddMember("spec", spec, a);
  return doc;
}

class KubeLeaseStore final : public LeaseStore {
 public:
  KubeLeaseStore(KubeClient& client, std::string ns)
      : client_(client), ns_(std::move(ns)), collection_(std::string(kLeases) + ns_ + "/leases") {}

  Result<Versioned> Get(const std::string& name) override {
    PAGODA_RETURN_IF_ERROR(CheckName(name));
    auto doc = client_.Get(collection_ + "/" + name);
    if (!doc.ok()) return doc.status();
    return FromLease(*doc);
  }

  Result<Versioned> Create(const std::string& name, const LeaseRecord& record) override {
    PAGODA_RETURN_IF_ERROR(CheckName(name));
    auto doc = client_.Post(collection_, ToLease(ns_, name, record, ""));
    if (!doc.ok()) return doc.status();
    return FromLease(*doc);
  }

  Result<Versioned> Update(const std::string& name, const Versioned& v) override {
    PAGODA_RETURN_IF_ERROR(CheckName(name));
    PAGODA_RETURN_IF_ERROR(CheckVersion(name, v));
    auto doc =
        client_.Put(collection_ + "/" + name, ToLease(ns_, name, v.record, v.resource_version));
    if (!doc.ok()) return doc.status();
    return FromLease(*doc);
  }

  Result<std::map<std::string, Versioned>> List(const std::string& prefix) override {
    auto items = client_.List(collection_);
    if (!items.ok()) return items.status();
    std::map<std::string, Versioned> out;
    for (const auto& item : *items) {
      std::string name = json::StringAt(item, {"metadata", "name"});
      if (!name.starts_with(prefix)) continue;
      auto lease = FromLease(item);
      if (!lease.ok()) return lease.status();
      out.emplace(std::move(name), std::move(*lease));
    }
    return out;
  }

  Status Delete(const std::string& name, const std::string& resource_version) override {
    PAGODA_RETURN_IF_ERROR(CheckName(name));
    // A precondition on the version: a Lease renewed meanwhile is kept.
    const std::string body =
        R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":")" +
        resource_version + R"("}})";
    Status st = client_.Delete(collection_ + "/" + name, body).status();
    return st.code() == Status::Code::kNotFound ? Status::Ok() : st;
  }

 private:
  KubeClient& client_;
  const std::string ns_;
  const std::string collection_;
};

}  // namespace

// ---- Timing ---------------------------------------------------------------------------

Status LeaseTiming::Validate() const {
  auto ms = [](milliseconds d) { return std::to_string(d.count()) + "ms"; };
  if (retry.count() <= 0) return Status::InvalidArgument("retry: " + ms(retry) + " is not > 0");
  if (lease.count() % 1000 != 0) {
    return Status::InvalidArgument("lease: " + ms(lease) +
                                   " is not whole seconds, as leaseDurationSeconds is");
  }
  if (lease <= renew_deadline) {
    return Status::InvalidArgument("lease: " + ms(lease) + " is not longer than renewDeadline " +
                                   ms(renew_deadline));
  }
  // client-go's JitterFactor: attempts come every retry x [1, 1.2).
  if (renew_deadline * 10 <= retry * 12) {
    return Status::InvalidArgument("renewDeadline: " + ms(renew_deadline) +
                                   " is not longer than 1.2 x retry " + ms(retry));
  }
  return Status::Ok();
}

std::string FormatMicroTime(int64_t unix_millis) { return FormatUtcMillis(unix_millis, 6); }

std::unique_ptr<LeaseStore> NewKubeLeaseStore(KubeClient& client, std::string ns) {
  return std::make_unique<KubeLeaseStore>(client, std::move(ns));
}

// ---- In memory ------------------------------------------------------------------------

Result<LeaseStore::Versioned> MemoryLeaseStore::Get(const std::string& name) {
  PAGODA_RETURN_IF_ERROR(CheckName(name));
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  if (!reachable_) return Status::Unavailable("GET Lease " + name + ": unreachable");
  auto it = leases_.find(name);
  if (it == leases_.end()) return Status::NotFound("Lease " + name + " not found");
  return it->second;
}

Result<LeaseStore::Versioned> MemoryLeaseStore::Create(const std::string& name,
                                                       const LeaseRecord& record) {
  PAGODA_RETURN_IF_ERROR(CheckName(name));
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  if (!reachable_) return Status::Unavailable("POST Lease " + name + ": unreachable");
  if (leases_.contains(name)) return Status::AlreadyExists("Lease " + name + " already exists");
  Versioned& v = leases_[name];
  v.record = record;
  v.resource_version = std::to_string(++version_);
  return v;
}

Result<LeaseStore::Versioned> MemoryLeaseStore::Update(const std::string& name,
                                                       const Versioned& v) {
  PAGODA_RETURN_IF_ERROR(CheckName(name));
  PAGODA_RETURN_IF_ERROR(CheckVersion(name, v));
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  if (!reachable_) return Status::Unavailable("PUT Lease " + name + ": unreachable");
  auto it = leases_.find(name);
  if (it == leases_.end()) return Status::NotFound("Lease " + name + " not found");
  if (it->second.resource_version != v.resource_version) {
    return Status::Conflict("Lease " + name + ": the object has been modified (version " +
                            it->second.resource_version + ", not " + v.resource_version + ")");
  }
  it->second.record = v.record;
  it->second.resource_version = std::to_string(++version_);
  return it->second;
}

Result<std::map<std::string, LeaseStore::Versioned>> MemoryLeaseStore::List(
    const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  if (!reachable_) return Status::Unavailable("LIST Leases: unreachable");
  std::map<std::string, Versioned> out;
  for (auto it = leases_.lower_bound(prefix); it != leases_.end() && it->first.starts_with(prefix);
       ++it) {
    out.insert(*it);
  }
  return out;
}

Status MemoryLeaseStore::Delete(const std::string& name, const std::string& resource_version) {
  PAGODA_RETURN_IF_ERROR(CheckName(name));
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  if (!reachable_) return Status::Unavailable("DELETE Lease " + name + ": unreachable");
  auto it = leases_.find(name);
  if (it == leases_.end()) return Status::Ok();
  if (it->second.resource_version != resource_version) {
    return Status::Conflict("Lease " + name + " changed: resourceVersion " +
                            it->second.resource_version + ", not " + resource_version);
  }
  leases_.erase(it);
  return Status::Ok();
}

void MemoryLeaseStore::SetReachable(bool reachable) {
  std::lock_guard<std::mutex> lock(mu_);
  reachable_ = reachable;
}

int64_t MemoryLeaseStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

// ---- Election -------------------------------------------------------------------------

LeaseElector::LeaseElector(LeaseStore& store, std::string name, std::string identity,
                           LeaseTiming timing, Clock& clock)
    : store_(store),
      name_(std::move(name)),
      identity_(std::move(identity)),
      timing_(timing),
      clock_(clock) {}

bool LeaseElector::Leading() const { return clock_.Now() < writes_until_; }

Clock::TimePoint LeaseElector::WritesUntil() const { return writes_until_; }

Clock::TimePoint LeaseElector::LeadingSince() const { return leading_since_; }

std::string LeaseElector::LiveHolder() const {
  if (observed_.holder.empty()) return "";
  const auto expires = observed_time_ + std::chrono::seconds(observed_.duration_seconds);
  return clock_.Now() < expires ? observed_.holder : "";
}

void LeaseElector::Observe(const LeaseStore::Versioned& seen) {
  if (seen.record == observed_ && seen.resource_version == observed_version_) return;
  observed_ = seen.record;
  observed_version_ = seen.resource_version;
  observed_time_ = clock_.Now();
}

void LeaseElector::StopLeading() { writes_until_ = std::min(writes_until_, clock_.Now()); }

void LeaseElector::Succeeded(Clock::TimePoint start, const LeaseStore::Versioned& written) {
  if (!Leading()) leading_since_ = start;
  writes_until_ = start + timing_.renew_deadline;
  Observe(written);
  last_error_.clear();
}

LeaseRecord LeaseElector::Claim() const {
  const std::string now = FormatMicroTime(clock_.UnixMillis());
  LeaseRecord r;
  r.holder = identity_;
  r.duration_seconds = std::chrono::duration_cast<std::chrono::seconds>(timing_.lease).count();
  r.renew_time = now;
  r.annotations = observed_.annotations;
  if (observed_.holder == identity_) {
    r.acquire_time = observed_.acquire_time;
    r.transitions = observed_.transitions;
  } else {
    r.acquire_time = now;
    r.transitions = observed_.transitions + 1;
  }
  return r;
}

bool LeaseElector::Try(bool acquire) {
  const Clock::TimePoint start = clock_.Now();
  // The holder's fast path: what it wrote last is most likely still there.
  if (acquire && Leading() && observed_.holder == identity_ && !observed_version_.empty()) {
    auto renewed = store_.Update(name_, {Claim(), observed_version_});
    if (renewed.ok()) {
      Succeeded(start, *renewed);
      return true;
    }
    last_error_ = renewed.status().ToString();
    // Out of reach: a read would be too. Anything else (a Conflict, the Lease
    // gone) is for the read below to sort out.
    const Status::Code code = renewed.status().code();
    if (code == Status::Code::kUnavailable || code == Status::Code::kDeadlineExceeded) {
      return Leading();
    }
  }

  auto got = store_.Get(name_);
  if (!got.ok() && got.status().code() != Status::Code::kNotFound) {
    last_error_ = got.status().ToString();
    return Leading();
  }
  if (!got.ok()) {
    // Gone: whoever creates it first leads, and that may not be us.
    StopLeading();
    Observe({LeaseRecord{}, ""});
    last_error_.clear();
    if (!acquire) return false;
    LeaseRecord r;
    r.holder = identity_;
    r.duration_seconds = std::chrono::duration_cast<std::chrono::seconds>(timing_.lease).count();
    r.acquire_time = r.renew_time = FormatMicroTime(clock_.UnixMillis());
    auto created = store_.Create(name_, r);
    if (!created.ok()) {
      last_error_ = created.status().ToString();
      return false;
    }
    Succeeded(start, *created);
    return true;
  }

  Observe(*got);
  last_error_.clear();
  if (observed_.holder != identity_) StopLeading();
  if (!acquire) return Leading();
  if (!observed_.holder.empty() && observed_.holder != identity_ && !LiveHolder().empty()) {
    return false;  // held, and seen alive within its duration
  }
  auto written = store_.Update(name_, {Claim(), observed_version_});
  if (!written.ok()) {
    last_error_ = written.status().ToString();
    return Leading();
  }
  Succeeded(start, *written);
  return true;
}

Status LeaseElector::Release() {
  StopLeading();
  if (observed_.holder != identity_) return Status::Ok();  // not ours since we last looked
  auto got = store_.Get(name_);
  if (!got.ok() && got.status().code() == Status::Code::kNotFound) {
    Observe({LeaseRecord{}, ""});
    return Status::Ok();
  }
  if (!got.ok()) return got.status().WithContext("releasing Lease " + name_);
  Observe(*got);
  if (observed_.holder != identity_) return Status::Ok();
  LeaseRecord r = observed_;
  r.holder.clear();
  r.duration_seconds = 1;
  r.acquire_time = r.renew_time = FormatMicroTime(clock_.UnixMillis());
  auto written = store_.Update(name_, {r, observed_version_});
  if (!written.ok()) return written.status().WithContext("releasing Lease " + name_);
  Observe(*written);
  return Status::Ok();
}

}  // namespace pagoda::kube

#include "daemon/leadership.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <random>

#include "daemon/shards.h"
#include "journal/record.h"

namespace pagoda::daemon {
namespace {

using std::chrono::milliseconds;

constexpr const char* kNextIdAnnotation = "pagoda.dev/next-release-id";
// How long a voluntary give-up waits for the writes in flight on its shard.
constexpr milliseconds kInFlightWait{5'000};

int64_t Ticks(Clock::TimePoint t) { return t.time_since_epoch().count(); }

// A MicroTime, "2026-12-06T19:25:47.123456Z", as Unix ms; 0 when it is not one.
int64_t MicroTimeMs(std::string text) {
  if (const size_t dot = text.find('.'); dot != std::string::npos && text.size() > dot + 4) {
    text = text.substr(0, dot + 4) + "Z";
  }
  auto ms = journal::ParseTime(text);
  return ms.ok() ? *ms : 0;
}

std::string DnsLabel(std::string text) {
  std::string out;
  for (char c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  }
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  if (out.size() > 40) out.resize(40);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "pagoda" : out;
}

}  // namespace

// ---- Ownership ----------------------------------------------------------------

bool Ownership::Owns(std::string_view app) const { return EpochOf(app).has_value(); }

std::optional<int64_t> Ownership::EpochOf(std::string_view app) const {
  if (everything) return 0;
  auto it = held.find(ShardOf(app, shards));
  if (it == held.end()) return std::nullopt;
  return it->second;
}

std::string Ownership::ShardName(std::string_view app) const {
  if (everything) return "";
  return "shard " + std::to_string(ShardOf(app, shards)) + " of " + std::to_string(shards);
}

std::chrono::milliseconds WriteTimeout(const DaemonConfig::Ha& ha) {
  return milliseconds(std::max<int64_t>(500, ha.lease_ms - ha.renew_deadline_ms));
}

std::string NamespaceOfPath(std::string_view path) {
  path = path.substr(0, path.find('?'));
  constexpr std::string_view kNamespaces = "/namespaces/";
  const size_t at = path.find(kNamespaces);
  if (at == std::string_view::npos) return "";
  std::string_view rest = path.substr(at + kNamespaces.size());
  return std::string(rest.substr(0, rest.find('/')));
}

// ---- The fence -------------------------------------------------------------------

class Leadership::Gate final : public kube::WriteGate {
 public:
  Gate(int shards, Clock& clock, std::string lease_prefix)
      : shards_(std::max(1, shards)),
        clock_(clock),
        prefix_(std::move(lease_prefix)),
        until_(new std::atomic<int64_t>[static_cast<size_t>(shards_)]),
        in_flight_(new std::atomic<int>[static_cast<size_t>(shards_)]) {
    for (int i = 0; i < shards_; ++i) {
      until_[i] = 0;
      in_flight_[i] = 0;
    }
  }

  Status Enter(std::string_view method, std::string_view path) override {
    const std::string ns = NamespaceOfPath(path);
    if (ns.empty()) {
      return Status::PermissionDenied(
          "with leadership, pagoda writes only in its apps' "
          "namespaces; " +
          std::string(method) + " " + std::string(path) + " names none");
    }
    const int shard = ShardOf(ns, shards_);
    if (!Open(shard)) return Refused(ns, shard);
    in_flight_[shard].fetch_add(1);
    if (!Open(shard)) {  // closed meanwhile: a give-up waits for no write it let through
      in_flight_[shard].fetch_sub(1);
      return Refused(ns, shard);
    }
    return Status::Ok();
  }

  void Leave(std::string_view path) override {
    const std::string ns = NamespaceOfPath(path);
    if (!ns.empty()) in_flight_[ShardOf(ns, shards_)].fetch_sub(1);
  }

  void OpenUntil(int shard, Clock::TimePoint until) { until_[shard] = Ticks(until); }
  void Close(int shard) { until_[shard] = 0; }
  int InFlight(int shard) const { return in_flight_[shard].load(); }

 private:
  bool Open(int shard) { return Ticks(clock_.Now()) < until_[shard].load(); }
  Status Refused(const std::string& ns, int shard) const {
    return Status::Unavailable("this replica does not lead namespace " + ns + " (its shard " +
                               std::to_string(shard) + ", Lease " + prefix_ +
                               std::to_string(shard) + "): the write is left to the holder");
  }

  const int shards_;
  Clock& clock_;
  const std::string prefix_;
  std::unique_ptr<std::atomic<int64_t>[]> until_;  // Clock ticks; writes begin before
  std::unique_ptr<std::atomic<int>[]> in_flight_;
};

// ---- Leadership ------------------------------------------------------------------

Leadership::Leadership(Options options, std::unique_ptr<kube::LeaseStore> store,
                       journal::Journal& journal, ReleaseObjects& objects,
                       std::vector<std::string> clusters, Hooks hooks, Clock& clock)
    : options_(std::move(options)),
      store_(std::move(store)),
      journal_(journal),
      objects_(objects),
      hooks_(std::move(hooks)),
      clock_(clock) {
  const auto& ha = options_.ha;
  timing_.lease = milliseconds(ha.lease_ms);
  timing_.renew_deadline = milliseconds(ha.renew_deadline_ms);
  timing_.retry = milliseconds(ha.retry_ms);
  gate_ = std::make_shared<Gate>(ha.shards, clock_,
                                 ha.shards > 1 ? ha.lease_name + "-shard-" : ha.lease_name + "#");
  heartbeat_ = std::make_unique<kube::LeaseElector>(
      *store_, ha.lease_name + "-replica-" + options_.identity, options_.identity, timing_, clock_);
  shards_.resize(static_cast<size_t>(std::max(1, ha.shards)));
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    shards_[k].elector = std::make_unique<kube::LeaseElector>(*store_, LeaseName(k),
                                                              options_.identity, timing_, clock_);
  }
  auto none = std::make_shared<Ownership>();
  none->everything = false;
  none->shards = static_cast<int>(shards_.size());
  ownership_ = none;
  status_.identity = options_.identity;
  clusters_ = std::move(clusters);
}

void Leadership::SetClusters(std::vector<std::string> clusters) {
  std::lock_guard lock(mu_);
  clusters_ = std::move(clusters);
}

void Leadership::Start() {
  thread_ = std::thread([this] { Run(); });
}

Leadership::~Leadership() { Stop(); }

std::string Leadership::LeaseName(int shard) const {
  const auto& ha = options_.ha;
  return ha.shards > 1 ? ha.lease_name + "-shard-" + std::to_string(shard) : ha.lease_name;
}

std::shared_ptr<kube::WriteGate> Leadership::gate() const { return gate_; }

std::shared_ptr<const Ownership> Leadership::ownership() const {
  std::lock_guard lock(mu_);
  return ownership_;
}

LeadershipStatus Leadership::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

std::string Leadership::Identity(const std::string& configured) {
  std::string base = configured;
  if (base.empty()) {
    if (const char* pod = std::getenv("POD_NAME"); pod != nullptr) base = pod;
  }
  if (base.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) base = host;
  }
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix += kChars[rd() % (sizeof kChars - 1)];
  return DnsLabel(base) + "-" + suffix;
}

void Leadership::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    const auto start = clock_.Now();
    Round();
    lock.lock();
    // Jittered like client-go's wait.JitterUntil, up to 1.2 x the period.
    static thread_local std::mt19937 rng(std::random_device{}());
    const auto period = std::chrono::duration_cast<milliseconds>(
        timing_.retry * std::uniform_real_distribution<double>(1.0, 1.2)(rng));
    cv_.wait_for(lock,
                 std::max(milliseconds(0),
                          std::chrono::duration_cast<milliseconds>(start + period - clock_.Now())),
                 [&] { return stop_; });
  }
}

std::vector<std::string> Leadership::LiveReplicas() {
  std::vector<std::string> live = {options_.identity};
  auto listed = store_->List(options_.ha.lease_name + "-replica-");
  if (!listed.ok()) return live;
  const auto now = clock_.Now();
  std::map<std::string, std::pair<std::string, Clock::TimePoint>> seen;
  for (const auto& [name, v] : *listed) {
    auto was = seen_.find(name);
    const Clock::TimePoint changed =
        was != seen_.end() && was->second.first == v.resource_version ? was->second.second : now;
    seen[name] = {v.resource_version, changed};
    const auto duration = std::chrono::seconds(v.record.duration_seconds);
    if (!v.record.holder.empty() && v.record.holder != options_.identity &&
        now - changed < duration) {
      live.push_back(v.record.holder);
    }
    // The heartbeat of a replica gone for good (stopped, or silent for ten
    // leases) is deleted, unless it changed meanwhile; anyone may.
    const bool gone = v.record.holder.empty() || now - changed >= 10 * timing_.lease;
    if (gone && v.record.holder != options_.identity && was != seen_.end()) {
      if (store_->Delete(name, v.resource_version).ok()) seen.erase(name);
    }
  }
  seen_ = std::move(seen);
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  return live;
}

void Leadership::Round() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;  // what it held is given up, or left to expire
  }
  std::string error;
  // Renewals first, each request bounded: a Lease cut off from its cluster
  // is noted lost as soon as its renew deadline passes, between requests.
  std::vector<bool> ours(shards_.size());
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    ShardState& s = shards_[k];
    // A renewal that came too late still finds the Lease ours when nobody
    // wrote it since: renewed at once, as client-go does, not a lease later.
    ours[k] = s.elector->Leading() || s.elector->observed().holder == options_.identity;
    if (!ours[k]) continue;
    if (!s.elector->Try(true) && !s.elector->last_error().empty()) {
      error = "Lease " + s.elector->name() + ": " + s.elector->last_error();
    }
    NoteLost(error);
  }
  if (!heartbeat_->Try(true) && !heartbeat_->last_error().empty() && error.empty()) {
    error = "heartbeat " + heartbeat_->name() + ": " + heartbeat_->last_error();
  }
  NoteLost(error);
  ShardView view;
  view.self = options_.identity;
  view.live = live_ = LiveReplicas();
  NoteLost(error);
  // The others' Leases, observed.
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    ShardState& s = shards_[k];
    if (!ours[k]) {
      s.elector->Try(false);
      if (!s.elector->last_error().empty() && error.empty()) {
        error = "Lease " + s.elector->name() + ": " + s.elector->last_error();
      }
      NoteLost(error);
    }
    view.holder.push_back(s.elector->Leading() ? options_.identity : s.elector->LiveHolder());
  }
  // A replica that has just started has not seen the others' heartbeats
  // yet: it takes nothing in its first round, so that replicas that start
  // together do not all take everything and give most of it back.
  ShardMoves moves = Balance(view);
  if (rounds_++ == 0) moves.acquire.clear();
  for (int k : moves.acquire) {
    if (shards_[k].elector->Try(true)) {
      spdlog::info("lease={} acquired by {} (transitions {})", LeaseName(k), options_.identity,
                   shards_[k].elector->observed().transitions);
    }
  }
  for (int k : moves.release) {
    if (shards_[k].elector->Leading() && GiveUp(k, false)) {
      spdlog::info("lease={} given up to balance {} shards over {} replicas", LeaseName(k),
                   shards_.size(), view.live.size());
    }
  }
  // Take up what is held and not yet taken up; fence what is held.
  std::vector<Takeover> takeovers;
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    ShardState& s = shards_[k];
    if (!s.elector->Leading()) {
      gate_->Close(k);
      s.taken = false;
      continue;
    }
    gate_->OpenUntil(k, s.elector->WritesUntil());
    if (s.taken) continue;
    auto takeover = PrepareTakeover(k);
    if (!takeover.ok()) {
      error = "taking up " + LeaseName(k) + ": " + takeover.status().ToString();
      continue;
    }
    s.taken = true;
    s.epoch = takeover->epoch;
    takeovers.push_back(std::move(*takeover));
  }
  // A fresh block of ids with every shard taken up; more before they run out.
  const bool leads_any =
      std::any_of(shards_.begin(), shards_.end(), [](const ShardState& s) { return s.taken; });
  if (!takeovers.empty() || (leads_any && journal_.IdsLeft() < options_.id_block / 2)) {
    auto block = ReserveIds(options_.id_block);
    if (block.ok()) {
      if (!takeovers.empty()) journal_.DropIdBlocks();
      journal_.AddIdBlock(*block);
    } else {
      error = "reserving release ids: " + block.status().ToString();
    }
  }
  Publish(std::move(takeovers), error);
}

// The shards taken up whose renew deadline has passed: fenced already (the
// gate goes by the clock), now the loop is told, and the log says so.
void Leadership::NoteLost(const std::string& error) {
  bool lost = false;
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    ShardState& s = shards_[k];
    if (s.elector->Leading()) continue;
    gate_->Close(k);
    if (!s.taken) continue;
    s.taken = false;
    lost = true;
    spdlog::warn("lease={} lost: not renewed within {} ms; this replica stopped writing there{}",
                 LeaseName(k), options_.ha.renew_deadline_ms, error.empty() ? "" : ": " + error);
  }
  if (lost) Publish({}, error);
}

Result<Leadership::Takeover> Leadership::PrepareTakeover(int shard) {
  Takeover t;
  t.shard = shard;
  t.epoch = shards_[shard].elector->observed().transitions;
  std::vector<std::string> clusters;
  {
    std::lock_guard lock(mu_);
    clusters = clusters_;
  }
  const int shards = static_cast<int>(shards_.size());
  std::set<std::string> ids;
  for (const std::string& cluster : clusters) {
    auto listed = objects_.List(cluster, {"", "", true, "", options_.ha.lease_name});
    if (!listed.ok()) return listed.status().WithContext("cluster " + cluster);
    for (MirroredRelease& m : *listed) {
      if (ShardOf(m.record.app, shards) != shard) continue;
      if (ids.insert(m.record.id).second) t.in_flight.push_back(std::move(m.record));
    }
    auto pins = PinsIn(cluster, shard);
    if (!pins.ok()) return pins.status().WithContext("cluster " + cluster);
    for (auto& r : *pins) t.pinned.push_back(std::move(r));
  }
  PAGODA_RETURN_IF_ERROR(FindEnded(clusters, ids, &t));
  return t;
}

// The journal's word on a release is this replica's last; the cluster's
// may be newer. Asked only for the releases the journal holds in flight
// and the cluster does not: rare, and one environment's list each.
Status Leadership::FindEnded(const std::vector<std::string>& clusters,
                             const std::set<std::string>& in_flight, Takeover* t) {
  auto local = journal_.reader().Releases({.app = "", .env = "", .limit = 1000});
  if (!local.ok()) return local.status().WithContext("the journal");
  for (const journal::ReleaseRecord& r : *local) {
    if (r.outcome != journal::Outcome::kInProgress || in_flight.count(r.id) ||
        ShardOf(r.app, static_cast<int>(shards_.size())) != t->shard ||
        std::find(clusters.begin(), clusters.end(), r.cluster) == clusters.end()) {
      continue;
    }
    auto listed = objects_.List(r.cluster, {r.app, r.env, false, "", options_.ha.lease_name});
    if (!listed.ok()) return listed.status().WithContext("cluster " + r.cluster);
    for (MirroredRelease& m : *listed) {
      if (m.record.id == r.id && m.record.outcome != journal::Outcome::kInProgress) {
        t->ended.push_back(std::move(m.record));
      }
    }
  }
  return Status::Ok();
}

// The rollbacks of `shard`'s apps in `cluster` that still pin their
// environment: the newest release there is the rollback.
Result<std::vector<journal::ReleaseRecord>> Leadership::PinsIn(const std::string& cluster,
                                                               int shard) {
  auto rollbacks =
      objects_.List(cluster, {"", "", false, "manual-rollback", options_.ha.lease_name});
  if (!rollbacks.ok()) return rollbacks.status();
  std::map<std::pair<std::string, std::string>, journal::ReleaseRecord> newest;
  for (MirroredRelease& m : *rollbacks) {
    if (ShardOf(m.record.app, static_cast<int>(shards_.size())) != shard) continue;
    auto& slot = newest[{m.record.app, m.record.env}];
    if (slot.id.empty() || m.record.start > slot.start) slot = std::move(m.record);
  }
  std::vector<journal::ReleaseRecord> out;
  for (auto& [key, rollback] : newest) {
    auto all = objects_.List(cluster, {key.first, key.second, false, "", options_.ha.lease_name});
    if (!all.ok()) return all.status();
    const bool latest = std::none_of(all->begin(), all->end(), [&](const MirroredRelease& m) {
      return m.record.start > rollback.start;
    });
    if (latest) out.push_back(std::move(rollback));
  }
  return out;
}

Result<journal::Journal::IdBlock> Leadership::ReserveIds(int64_t n) {
  const std::string name = options_.ha.lease_name + "-release-ids";
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_->Get(name);
    if (!got.ok() && got.status().code() == Status::Code::kNotFound) {
      // The first replica: ids go on from its own journal's.
      kube::LeaseRecord counter;
      const int64_t first = journal_.HighestId() + 1;
      counter.annotations[kNextIdAnnotation] = std::to_string(first + n);
      auto made = store_->Create(name, counter);
      if (made.ok()) return journal::Journal::IdBlock{first, first + n};
      continue;  // another made it first
    }
    if (!got.ok()) return got.status();
    int64_t next = 1;
    const std::string& text = got->record.annotations[kNextIdAnnotation];
    if (auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), next);
        ec != std::errc() || next < 1) {
      return Status::Corruption("Lease " + name + ": annotation " + kNextIdAnnotation + " is '" +
                                text + "', not a number");
    }
    kube::LeaseStore::Versioned v = *got;
    v.record.annotations[kNextIdAnnotation] = std::to_string(next + n);
    auto written = store_->Update(name, v);
    if (written.ok()) return journal::Journal::IdBlock{next, next + n};
    if (written.status().code() != Status::Code::kConflict) return written.status();
  }
  return Status::Unavailable("Lease " + name + " kept changing under 5 attempts");
}

bool Leadership::GiveUp(int shard, bool stopping) {
  ShardState& s = shards_[shard];
  // On a stop, the loop has stopped writing already.
  if (!stopping && s.taken && hooks_.give_up) {
    s.taken = false;
    auto without = std::make_shared<Ownership>(OwnershipNow());
    if (!hooks_.give_up(without)) {
      s.taken = true;  // the loop did not answer: kept for now
      return false;
    }
  }
  s.taken = false;
  gate_->Close(shard);
  const auto until = clock_.Now() + kInFlightWait;
  while (gate_->InFlight(shard) > 0 && clock_.Now() < until) {
    clock_.SleepFor(milliseconds(10));
  }
  if (gate_->InFlight(shard) > 0) {
    // A write still out: the Lease stays ours until it lands, renewed; the
    // fence stays shut. Tried again at the next round.
    spdlog::warn("lease={} kept: {} writes still in flight", LeaseName(shard),
                 gate_->InFlight(shard));
    if (!stopping) s.elector->Try(true);
    return false;
  }
  if (Status st = s.elector->Release(); !st.ok()) {
    spdlog::warn("lease={} not released ({}); it expires in {} ms", LeaseName(shard), st.ToString(),
                 options_.ha.lease_ms);
  }
  return true;
}

Ownership Leadership::OwnershipNow() const {
  Ownership o;
  o.everything = false;
  o.shards = static_cast<int>(shards_.size());
  for (int k = 0; k < o.shards; ++k) {
    if (shards_[k].taken) o.held[k] = shards_[k].epoch;
  }
  return o;
}

void Leadership::Publish(std::vector<Takeover> takeovers, const std::string& error) {
  auto now = std::make_shared<Ownership>(OwnershipNow());
  LeadershipStatus st;
  st.identity = options_.identity;
  st.error = error;
  st.replicas = live_;
  int64_t transitions = 0;
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    ShardState& s = shards_[k];
    LeadershipStatus::Shard shard;
    shard.index = k;
    shard.lease = LeaseName(k);
    shard.holder = s.elector->Leading() ? options_.identity : s.elector->LiveHolder();
    shard.since_ms = shard.holder.empty() ? 0 : MicroTimeMs(s.elector->observed().acquire_time);
    shard.transitions = s.elector->observed().transitions;
    shard.mine = s.taken;
    // A holder seen to take over from another (or from nobody).
    if (!shard.holder.empty() && shard.holder != s.last_holder) {
      if (!s.last_holder.empty() || s.seen_free) ++transitions;
      s.last_holder = shard.holder;
    }
    s.seen_free |= shard.holder.empty();
    st.shards.push_back(shard);
  }
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    st.transitions_seen = status_.transitions_seen + transitions;
    changed = *now != *ownership_;
    if (changed) ownership_ = now;
    status_ = std::move(st);
  }
  if ((changed || !takeovers.empty()) && hooks_.changed) hooks_.changed(now, std::move(takeovers));
}

void Leadership::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (int k = 0; k < static_cast<int>(shards_.size()); ++k) {
    if (shards_[k].elector->Leading() && GiveUp(k, true)) {
      spdlog::info("lease={} released for the next holder", LeaseName(k));
    }
  }
  // The heartbeat goes: the others count one replica less at once.
  Status gone = heartbeat_->Release();
  if (gone.ok()) {
    auto mine = store_->Get(heartbeat_->name());
    gone = !mine.ok() ? mine.status()
           : mine->record.holder.empty()
               ? store_->Delete(heartbeat_->name(), mine->resource_version)
               : Status::Ok();
    if (gone.code() == Status::Code::kNotFound) gone = Status::Ok();
  }
  if (!gone.ok()) spdlog::warn("heartbeat {} not removed: {}", heartbeat_->name(), gone.ToString());
}

}  // namespace pagoda::daemon

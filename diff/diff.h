// diff/ compares what the repository wants with what a cluster has, and plans
// what to do about it. It is pure: it never talks to a cluster, never reads a
// file and never logs; apply/ fetches live objects and carries the plan out.
//
// No noise: only fields pagoda sets are compared, so defaults the API server
// fills in, status and bookkeeping never show; quantities compare by value
// (0.5 == 500m); the commit annotation is never a reason to write. Fields
// removed from the repository are caught by a hash of what pagoda last
// applied, kept in the annotation pagoda.dev/applied.
//
// Start here: PrepareForApply() decorates a rendered object; Compare() says
// whether a live object still matches it and which fields differ; MakePlan()
// pairs desired with live objects into creates, updates, retirements and
// prunes; UnifiedDiff() prints a difference for people.
#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace pagoda::diff {

// Labels and annotations pagoda reads and writes.
inline constexpr char kNameLabel[] = "app.kubernetes.io/name";
inline constexpr char kInstanceLabel[] = "app.kubernetes.io/instance";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "pagoda";
inline constexpr char kRevisionLabel[] = "pagoda.dev/revision";
inline constexpr char kCommitAnnotation[] = "pagoda.dev/commit";
inline constexpr char kAppliedAnnotation[] = "pagoda.dev/applied";
inline constexpr char kPruneAnnotation[] = "pagoda.dev/prune";

// Identifies an object in a cluster. `api_version` is "v1" or "group/version";
// objects are the same object across versions of one group.
struct ObjectKey {
  std::string group;  // "" for the core group
  std::string kind;
  std::string namespace_name;  // "" when cluster-scoped
  std::string name;

  // "Deployment/shop/prod-3f2a9c1b0d"; "Namespace/shop" when cluster-scoped.
  std::string ToString() const;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
};

struct ObjectKeyHash {
  size_t operator()(const ObjectKey& key) const;
};

// metadata.labels[name] / metadata.annotations[name] of an object; "" when absent.
std::string LabelOf(const rapidjson::Value& object, std::string_view name);
std::string AnnotationOf(const rapidjson::Value& object, std::string_view name);

// metadata[name] of an object when it is a string ("uid", "resourceVersion"),
// pointing into the object; "" otherwise.
std::string_view MetadataString(const rapidjson::Value& object, const char* name);

// "apps/v1" → "apps"; "v1" → "".
std::string_view GroupOf(std::string_view api_version);
// The key of a JSON object; InvalidArgument when it lacks apiVersion, kind or name.
Result<ObjectKey> KeyOf(const rapidjson::Value& object);

// ---- Comparing one object ---------------------------------------------------

struct FieldChange {
  std::string path;     // "spec.template.spec.containers[name=web].image"
  std::string desired;  // compact JSON; "" when pagoda no longer sets the field
  std::string live;     // compact JSON; "" when the live object lacks the field
};

struct Comparison {
  bool equal = true;
  std::vector<FieldChange> changes;  // in document order of the desired object
};

// Compares a desired object (as PrepareForApply made it) with the live one.
// Every field of `desired` must be present in `live` with an equal value;
// fields only `live` has are the server's or another manager's and are
// ignored, except that a differing pagoda.dev/applied hash means fields were
// removed in the repository. Lists whose items Kubernetes merges by a key
// (containers, env, ports, volumes, volumeMounts, ...) are matched by that key;
// other lists must match item for item.
Comparison Compare(const rapidjson::Value& desired, const rapidjson::Value& live);

// True when two Kubernetes quantities are the same amount ("0.5" and "500m",
// "1Gi" and "1073741824"). Unparsable strings compare as strings.
bool QuantitiesEqual(std::string_view a, std::string_view b);

// ---- Preparing what to apply -------------------------------------------------

// The rendered object (canonical JSON) as pagoda applies it: with annotations
// pagoda.dev/prune (the prune policy in force when it was applied) and
// pagoda.dev/applied (a hash of everything else pagoda sets, the commit
// annotation excepted). Returns canonical JSON.
Result<std::string> PrepareForApply(std::string_view rendered_json, bool prune);

// `json` (an object, as PrepareForApply made it) with the annotation
// pagoda.dev/commit set to `commit`: what is written when an object is.
Result<std::string> WithCommit(std::string_view json, std::string_view commit);

// A live or dry-run object with bookkeeping removed (managedFields,
// resourceVersion, uid, generation, creationTimestamp, status, pagoda's
// applied hash), for showing people a difference. Canonical JSON.
std::string ForDisplay(const rapidjson::Value& object);

// ---- Planning ----------------------------------------------------------------

enum class Action {
  kCreate,     // not in the cluster
  kUpdate,     // in the cluster, differs (Comparison says where)
  kUnchanged,  // in the cluster, equal: nothing is written
  kRetire,     // an earlier revision of a live environment: scale to 0, keep
  kDelete,     // owned by pagoda, no longer wanted, pruning allowed
  kOrphan,     // owned by pagoda, no longer wanted, pruning not allowed: reported
  kConflict,   // in the cluster without pagoda's labels for its app and environment: left alone
  kAdopt,      // the same, and the environment says adopt: taken over, and recorded
  kBlocked,    // would be written, but its environment (or app) has a conflict: waits
};
std::string_view ActionName(Action action);

// One desired object, as PrepareForApply made it.
struct Desired {
  ObjectKey key;
  std::string api_version;
  // Shared and never changed: the render cache and every desired state made
  // from it hold one copy. Never null.
  std::shared_ptr<const std::string> json = std::make_shared<const std::string>();
  uint64_t hash = 0;  // of `*json` (HashJson); 0: not worked out yet
};

// The hash Desired::hash holds; never 0.
uint64_t HashJson(std::string_view json);

// What a plan reads of nearly every live object, at hand without parsing it.
struct LiveFacts {
  std::string uid, resource_version;                 // metadata
  std::string name, instance, managed_by, revision;  // its pagoda labels
  std::string applied;                               // annotation pagoda.dev/applied
  int64_t replicas = 0, ready_replicas = 0;          // spec.replicas, status.readyReplicas
  // Moves whenever anything Compare() reads of the object may have moved:
  // its metadata.generation (which the server moves on every change of its
  // spec) with a hash of its labels and annotations, for an object whose
  // other fields all lie under spec or status; else its resourceVersion.
  // A controller's status update leaves it as it was.
  std::string compared_version;
};

// One live object as the API server returned it. Either parsed already (a
// LIST's item, a document), or kept as JSON text (managedFields left out)
// with its LiveFacts, and parsed on the first Value(): a cache of many
// objects holds their text, a fraction of what their parsed form takes, and
// a plan parses only those it compares. The parsed form lives as long as
// this LiveObject; Unparsed() gives one that shares the text only.
// Immutable to its readers; safe to share between threads.
class LiveObject {
 public:
  struct Text {
    std::string json;
    LiveFacts facts;
  };
  // `object` as text, metadata.managedFields left out, with its facts.
  static std::shared_ptr<const Text> Keep(const rapidjson::Value& object);

  explicit LiveObject(std::shared_ptr<const rapidjson::Value> parsed);
  explicit LiveObject(std::shared_ptr<const Text> text);
  LiveObject(const LiveObject&) = delete;
  LiveObject& operator=(const LiveObject&) = delete;

  // The whole object; parsed on the first call when kept as text.
  const rapidjson::Value& Value() const;
  // Calls `read` with the whole object: parsed for this call alone when it
  // is not parsed yet, and not kept. For what is read once, such as a
  // comparison in a pass over every object, where keeping each parse would
  // hold them all at once.
  void Peek(const std::function<void(const rapidjson::Value&)>& read) const;
  const LiveFacts& Facts() const;
  // One sharing `object`'s text, to be parsed on its own; `object` itself
  // when it was parsed from the start.
  static std::shared_ptr<const LiveObject> Unparsed(
      const std::shared_ptr<const LiveObject>& object);
  // Its text when kept as text; null otherwise.
  const std::shared_ptr<const Text>& text() const { return text_; }
  // Whether the whole object is parsed (from the start, or by Value()).
  bool parsed() const { return parsed_flag_.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<const Text> text_;
  std::unique_ptr<const LiveFacts> facts_;  // when parsed from the start
  mutable std::once_flag parse_once_;
  mutable std::shared_ptr<const rapidjson::Value> parsed_;
  mutable std::atomic<bool> parsed_flag_{false};
};

// The facts of a parsed object.
LiveFacts FactsOf(const rapidjson::Value& object);

// One live object pagoda owns (it carries app.kubernetes.io/managed-by=pagoda).
struct Live {
  ObjectKey key;
  std::string api_version;
  // As the API server returned it, managedFields left out when kept as
  // text. Shared: it may live in a pool with the other objects of one LIST,
  // or its text in a cache that outlasts this Live. Never null.
  std::shared_ptr<const LiveObject> object;
};

// A Live that owns its object; InvalidArgument when the object has no key.
Result<Live> LiveFromDocument(rapidjson::Document object);

struct PlannedChange {
  Action action = Action::kUnchanged;
  ObjectKey key;
  std::string api_version;
  // Its app.kubernetes.io/instance label (desired, else live): the
  // environment it belongs to; "" for app-level objects.
  std::string instance;
  bool wanted = false;  // the repository renders it: kCreate, kUpdate, kUnchanged
  // kCreate, kUpdate: what to apply. Shared with the desired state it came
  // from, never changed; null for the other actions.
  std::shared_ptr<const std::string> desired;
  const std::string& desired_json() const;  // *desired; "" when null
  // kUpdate, kUnchanged, kRetire, kDelete, kOrphan. Shared: a change may
  // outlive the read that found it (a release order's last steps).
  std::shared_ptr<const LiveObject> live;
  std::vector<FieldChange> changes;  // kUpdate
  std::string reason;                // kRetire, kDelete, kOrphan, kConflict, kBlocked: why
  // kConflict, kAdopt: whose the object is now, as far as the cluster says
  // ("kubectl-client-side-apply, helm"); "" when it does not say.
  std::string owner;
};

// Whether `live` carries pagoda's labels for app `app` and environment
// `instance` ("" for objects of the app as a whole: its Namespace, plain
// manifests): managed-by pagoda, name `app`, instance `instance`.
bool OwnedFor(const rapidjson::Value& live, std::string_view app, std::string_view instance);
bool OwnedFor(const LiveFacts& live, std::string_view app, std::string_view instance);

// Whether pagoda's field manager ("pagoda") has written `object` before, by
// its metadata.managedFields. Objects read by a LIST carry none: false.
bool AppliedByPagoda(const rapidjson::Value& object);

// The field managers of an object (metadata.managedFields), without
// duplicates, in their order; "" when it lists none.
std::string ManagersOf(const rapidjson::Value& object);

// What part of the cluster a sync speaks for: the apps (and, when given, only
// some of their environments) that were selected and rendered. Objects
// outside the scope are never planned for deletion, whatever their labels.
struct Scope {
  struct AppScope {
    bool all_environments = true;           // false: only `environments`, and no app-level objects
    std::vector<std::string> environments;  // every environment of the app, or the selected ones
    bool prune_app_objects = false;         // prune policy for the namespace's plain manifests
    std::map<std::string, bool> prune;      // per environment still in the repository
    std::map<std::string, int> keep_revisions;  // per environment still in the repository
    std::map<std::string, bool> adopt;          // per environment: take over what exists
    bool adopt_app_objects = false;             // the same for the Namespace and plain manifests
    // Left as they are in the cluster, whatever the repository says: held
    // back environments, and plain manifests by key ("Ingress/shop/edge").
    std::set<std::string> held_environments;
    std::set<std::string> held_objects;
  };
  std::map<std::string, AppScope> apps;  // by app name (= namespace)
};

struct Plan {
  std::vector<PlannedChange> changes;  // creates and updates in apply order, then
                                       // retirements, then deletions in reverse apply order

  int Count(Action action) const;
  bool InSync() const;  // nothing to create, update, adopt, retire or delete
};

// What MakePlan learned about each desired object, kept from one plan of a
// server to the next so that a pair is compared again only when it changed:
// an entry holds while the desired object's text and the live object's uid
// and LiveFacts::compared_version stay the same. Entries are MakePlan's own; one memo per
// server, used by one thread at a time.
struct PlanMemo {
  struct Entry {
    uint64_t desired_hash = 0;
    size_t desired_size = 0;
    // The live object's uid and compared_version. Not the object itself: a
    // memo that held it would keep every version a cache has since replaced.
    std::string live_uid, live_version;
    std::string instance;
    std::vector<std::string> config_maps;  // of a Deployment: the ConfigMaps its pods mount
    Comparison comparison;
    int64_t plan = 0;  // the last plan that used it
  };
  std::unordered_map<ObjectKey, Entry, ObjectKeyHash> entries;
  int64_t plans = 0;             // made with this memo
  int64_t hits = 0, misses = 0;  // over the memo's life
};

// Pairs desired with live objects by key. A live object that is not
// pagoda's for the desired object's app and environment (OwnedFor) is a
// kConflict, or kAdopt where the scope says adopt. Live objects of an environment
// that the repository still has but of another revision are its earlier
// revisions: the newest `keep_revisions` of them are retired (scaled to 0),
// older ones deleted with the files ConfigMaps only they use. Other live
// objects in scope that are no longer desired are deleted when their
// environment's (or, for app-level objects, the app's) prune policy allows,
// else reported as orphans.
Plan MakePlan(const std::vector<Desired>& desired, const std::vector<Live>& live,
              const Scope& scope, PlanMemo* memo = nullptr);

// Whether `change` may take over what exists under its key, by `scope`.
bool AdoptionAllowed(const PlannedChange& change, const Scope& scope);

// Makes `change` a kAdopt (where the scope allows) or a kConflict, because
// `live`, under its key, is not pagoda's for its app and environment; the
// reason says whose labels it carries, the owner who manages it.
void MarkForeign(PlannedChange* change, const rapidjson::Value& live, const Scope& scope);

// Nothing of an environment with a conflict is written, nor anything of an
// app whose Namespace or plain manifests have one: their other creates,
// updates, adoptions, retirements and deletions become kBlocked, naming the
// conflict. Returns how many changes it blocked.
int HoldConflicts(Plan* plan);

// Apply order of kinds: Namespace, ConfigMap, Secret, Service, Deployment,
// Ingress, then others by kind. Deletions go in reverse.
int KindRank(std::string_view kind);

// ---- Showing a difference ------------------------------------------------------

// A unified diff of two texts, line by line, with `context` lines around each
// change and ---/+++ headers naming `from_name` and `to_name`. Empty when the
// texts are equal.
std::string UnifiedDiff(std::string_view from_name, std::string_view from, std::string_view to_name,
                        std::string_view to, int context = 3);

// Colours a unified diff for a terminal: removals red, additions green,
// hunk headers cyan.
std::string Colorize(std::string_view unified_diff);

// The fields an update of `key` changes, one line each for a release record:
// "spec.replicas: 2 -> 4", "data.url: (none) -> \"https://…\"". At most
// kMaxFieldLines lines (then "… N more"), each value cut at kMaxFieldValue
// bytes; a Secret's values are never shown ("(a value)").
inline constexpr size_t kMaxFieldLines = 32;
inline constexpr size_t kMaxFieldValue = 120;
std::vector<std::string> FieldLines(const ObjectKey& key, const std::vector<FieldChange>& changes);

}  // namespace pagoda::diff

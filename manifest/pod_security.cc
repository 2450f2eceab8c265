#include "manifest/pod_security.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace pagoda::manifest {
namespace {

// The Baseline controls, in the order the standard lists them. A set of
// controls is a bit mask of these.
enum Control : unsigned {
  kHostProcess = 1u << 0,
  kHostNamespaces = 1u << 1,
  kPrivilegedContainers = 1u << 2,
  kCapabilities = 1u << 3,
  kHostPathVolumes = 1u << 4,
  kHostPorts = 1u << 5,
  kHostProbes = 1u << 6,
  kAppArmor = 1u << 7,
  kSELinux = 1u << 8,
  kProcMount = 1u << 9,
  kSeccomp = 1u << 10,
  kSysctls = 1u << 11,
  kUlimits = 1u << 12,  // securityContext.ulimits, alpha in Kubernetes 1.37: Privileged only
};

// Indexed by bit position.
constexpr std::array<std::string_view, 13> kControlNames = {"HostProcess",
                                                            "host namespaces",
                                                            "privileged containers",
                                                            "capabilities",
                                                            "hostPath volumes",
                                                            "host ports",
                                                            "host probes and lifecycle hooks",
                                                            "AppArmor",
                                                            "SELinux",
                                                            "/proc mount type",
                                                            "seccomp",
                                                            "sysctls",
                                                            "ulimits"};

// The controls whose fields lie beneath a node: a node of the wrong type
// violates all of them.
constexpr unsigned kEveryControl = (1u << kControlNames.size()) - 1;
constexpr unsigned kSharedSecurityContext = kHostProcess | kAppArmor | kSELinux | kSeccomp;
constexpr unsigned kPodSecurityContext = kSharedSecurityContext | kSysctls;
constexpr unsigned kContainerSecurityContext =
    kSharedSecurityContext | kPrivilegedContainers | kCapabilities | kProcMount | kUlimits;
constexpr unsigned kContainer = kContainerSecurityContext | kHostPorts | kHostProbes;

// The allowed values. Kubernetes compares them exactly, and so does pagoda.
constexpr std::string_view kAllowedCapabilities[] = {
    "AUDIT_WRITE",      "CHOWN",   "DAC_OVERRIDE", "FOWNER",  "FSETID", "KILL",      "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID",       "SETPCAP", "SETUID", "SYS_CHROOT"};
// The safe set of pod-security-admission's newest policy version (1.37).
constexpr std::string_view kSafeSysctls[] = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",    // 1.27
    "net.ipv4.tcp_keepalive_time",         // 1.29
    "net.ipv4.tcp_fin_timeout",            // 1.29
    "net.ipv4.tcp_keepalive_intvl",        // 1.29
    "net.ipv4.tcp_keepalive_probes",       // 1.29
    "net.ipv4.tcp_rmem",                   // 1.32
    "net.ipv4.tcp_wmem",                   // 1.32
    "net.ipv4.tcp_slow_start_after_idle",  // 1.37
    "net.ipv4.tcp_notsent_lowat",          // 1.37
};
constexpr std::string_view kSELinuxTypes[] = {"", "container_t", "container_init_t",
                                              "container_kvm_t", "container_engine_t"};
// Seccomp and AppArmor: the standard's allowed values. pod-security-admission
// only refuses Unconfined, and API validation every other value.
constexpr std::string_view kProfileTypes[] = {"RuntimeDefault", "Localhost"};
// pod-security-admission 1.35+ lets a pod with `hostUsers: false` have any
// procMount; pagoda keeps the /proc masks required inside user namespaces too.
constexpr std::string_view kProcMountTypes[] = {"Default"};
constexpr std::string_view kEmpty[] = {""};
constexpr std::string_view kAppArmorAnnotationPrefix =
    "container.apparmor.security.beta.kubernetes.io/";
constexpr std::string_view kContainerLists[] = {"containers", "initContainers",
                                                "ephemeralContainers"};

// The keys from the document root to the mapping that holds the pod's
// `metadata` and `spec`; false for kinds that hold no pod spec.
bool PodTemplateWay(std::string_view group, std::string_view kind,
                    std::vector<std::string_view>* way) {
  if (group.empty() && kind == "Pod") {
    *way = {};
  } else if (group.empty() && kind == "PodTemplate") {
    *way = {"template"};
  } else if ((group.empty() && kind == "ReplicationController") ||
             (group == "apps" && (kind == "Deployment" || kind == "StatefulSet" ||
                                  kind == "DaemonSet" || kind == "ReplicaSet")) ||
             (group == "batch" && kind == "Job")) {
    *way = {"spec", "template"};
  } else if (group == "batch" && kind == "CronJob") {
    *way = {"spec", "jobTemplate", "spec", "template"};
  } else {
    return false;
  }
  return true;
}

// The entry for `key` in mapping `map`, when it is there and not null.
const YamlEntry* Find(const YamlNode& map, std::string_view key) {
  for (const YamlEntry& e : map.entries) {
    if (e.key == key) return e.value.IsNull() ? nullptr : &e;
  }
  return nullptr;
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// The string a scalar is to Kubernetes: quoted text, or plain text that YAML
// does not resolve to a bool or a number (pagoda sends those as such in JSON).
bool AsString(const YamlNode& node, std::string_view* out) {
  if (!node.IsScalar()) return false;
  if (node.plain) {
    bool b = false;
    int64_t i = 0;
    if (IsYamlBool(node.scalar, &b) || IsYamlInt(node.scalar, &i) || IsYamlFloat(node.scalar)) {
      return false;
    }
  }
  *out = node.scalar;
  return true;
}

bool IsOneOf(const YamlNode& node, std::span<const std::string_view> allowed) {
  std::string_view s;
  return AsString(node, &s) && std::find(allowed.begin(), allowed.end(), s) != allowed.end();
}

// `node` as a message names it: a string quoted, another scalar as written,
// anything else by its kind.
std::string Written(const YamlNode& node) {
  std::string_view s;
  if (AsString(node, &s)) return "\"" + std::string(s) + "\"";
  if (node.IsScalar()) return node.scalar;
  return std::string(node.KindName());
}

std::string ControlNames(unsigned controls) {
  std::string out;
  for (size_t i = 0; i < kControlNames.size(); ++i) {
    if ((controls & (1u << i)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += kControlNames[i];
  }
  return out;
}

// Checks one pod template against Baseline. Each method checks the node it is
// given, which sits at `path` from the document root, and reports there.
class Baseline {
 public:
  Baseline(std::string_view app, Sink& sink) : app_(app), sink_(sink) {}

  // `holder` is the mapping at `path` that holds the pod's metadata and spec.
  void Pod(const YamlNode& holder, const std::string& path) {
    if (const YamlNode* metadata = Map(holder, "metadata", path, kAppArmor)) {
      Annotations(*metadata, Join(path, "metadata"));
    }
    if (const YamlNode* spec = Map(holder, "spec", path, kEveryControl)) {
      PodSpec(*spec, Join(path, "spec"));
    }
  }

  // The mapping at `key` of `map`, or nullptr when absent or null. A value of
  // another type violates `controls` (nothing beneath it can be read): it is
  // reported, and the answer is nullptr.
  const YamlNode* Map(const YamlNode& map, std::string_view key, const std::string& path,
                      unsigned controls) {
    return Typed(map, key, path, controls, YamlNode::Kind::kMap);
  }

 private:
  const YamlNode* List(const YamlNode& map, std::string_view key, const std::string& path,
                       unsigned controls) {
    return Typed(map, key, path, controls, YamlNode::Kind::kSequence);
  }

  const YamlNode* Typed(const YamlNode& map, std::string_view key, const std::string& path,
                        unsigned controls, YamlNode::Kind kind) {
    const YamlEntry* e = Find(map, key);
    if (e == nullptr) return nullptr;
    if (e->value.kind == kind) return &e->value;
    Report(e->value, Join(path, key), controls);
    return nullptr;
  }

  void Report(const YamlNode& node, const std::string& path, unsigned controls) {
    Report(node.pos, path, Written(node), controls);
  }

  void Report(Pos pos, const std::string& path, std::string_view what, unsigned controls) {
    sink_.Error(pos, path,
                std::string(what) + " is not allowed at Pod Security level \"baseline\" (" +
                    ControlNames(controls) + "); the daemon config's podSecurity can grant app " +
                    std::string(app_) + " \"privileged\"");
  }

  // Calls `visit` with each mapping of the list at `key` of `map` and its path.
  // Null items are skipped (Kubernetes reads them as empty objects); any other
  // item violates `controls`.
  template <typename Visit>
  void EachMapping(const YamlNode& map, std::string_view key, const std::string& path,
                   unsigned controls, Visit visit) {
    const YamlNode* list = List(map, key, path, controls);
    if (list == nullptr) return;
    std::string base = Join(path, key);
    for (size_t i = 0; i < list->items.size(); ++i) {
      const YamlNode& item = list->items[i];
      if (item.IsMap()) {
        visit(item, Index(base, i));
      } else if (!item.IsNull()) {
        Report(item, Index(base, i), controls);
      }
    }
  }

  // Each item of the list at `key` must be one of `allowed`; a null item is
  // the empty string to Kubernetes, which is not.
  void EachOneOf(const YamlNode& map, std::string_view key, const std::string& path,
                 std::span<const std::string_view> allowed, Control control) {
    const YamlNode* list = List(map, key, path, control);
    if (list == nullptr) return;
    std::string base = Join(path, key);
    for (size_t i = 0; i < list->items.size(); ++i) {
      if (!IsOneOf(list->items[i], allowed)) Report(list->items[i], Index(base, i), control);
    }
  }

  void MustBeFalse(const YamlNode& map, std::string_view key, const std::string& path,
                   Control control) {
    const YamlEntry* e = Find(map, key);
    if (e == nullptr) return;
    bool value = true;
    if (e->value.IsScalar() && e->value.plain && IsYamlBool(e->value.scalar, &value) && !value) {
      return;
    }
    Report(e->value, Join(path, key), control);
  }

  void MustBeZero(const YamlNode& map, std::string_view key, const std::string& path,
                  Control control) {
    const YamlEntry* e = Find(map, key);
    if (e == nullptr) return;
    int64_t value = 1;
    if (e->value.IsScalar() && e->value.plain && IsYamlInt(e->value.scalar, &value) && value == 0) {
      return;
    }
    Report(e->value, Join(path, key), control);
  }

  void MustBeOneOf(const YamlNode& map, std::string_view key, const std::string& path,
                   std::span<const std::string_view> allowed, Control control) {
    const YamlEntry* e = Find(map, key);
    if (e == nullptr || IsOneOf(e->value, allowed)) return;
    Report(e->value, Join(path, key), control);
  }

  // Any non-null value of `key` is a violation, named `what`, at the key.
  void MustBeAbsent(const YamlNode& map, std::string_view key, const std::string& path,
                    std::string_view what, Control control) {
    if (const YamlEntry* e = Find(map, key)) Report(e->key_pos, Join(path, key), what, control);
  }

  void Annotations(const YamlNode& metadata, const std::string& path) {
    const YamlNode* annotations = Map(metadata, "annotations", path, kAppArmor);
    if (annotations == nullptr) return;
    std::string base = Join(path, "annotations");
    for (const YamlEntry& e : annotations->entries) {
      if (!e.key.starts_with(kAppArmorAnnotationPrefix) || e.value.IsNull()) continue;
      std::string_view profile;
      if (AsString(e.value, &profile) &&
          (profile.empty() || profile == "runtime/default" || profile.starts_with("localhost/"))) {
        continue;
      }
      Report(e.value, Join(base, e.key), kAppArmor);
    }
  }

  void PodSpec(const YamlNode& spec, const std::string& path) {
    MustBeFalse(spec, "hostNetwork", path, kHostNamespaces);
    MustBeFalse(spec, "hostPID", path, kHostNamespaces);
    MustBeFalse(spec, "hostIPC", path, kHostNamespaces);
    if (const YamlNode* context = Map(spec, "securityContext", path, kPodSecurityContext)) {
      std::string context_path = Join(path, "securityContext");
      SharedSecurityContext(*context, context_path);
      EachMapping(*context, "sysctls", context_path, kSysctls,
                  [&](const YamlNode& sysctl, const std::string& sysctl_path) {
                    MustBeOneOf(sysctl, "name", sysctl_path, kSafeSysctls, kSysctls);
                  });
    }
    EachMapping(spec, "volumes", path, kHostPathVolumes,
                [&](const YamlNode& volume, const std::string& volume_path) {
                  MustBeAbsent(volume, "hostPath", volume_path, "a hostPath volume",
                               kHostPathVolumes);
                });
    for (std::string_view list : kContainerLists) {
      EachMapping(spec, list, path, kContainer,
                  [&](const YamlNode& container, const std::string& container_path) {
                    Container(container, container_path);
                  });
    }
  }

  // A container, init container or ephemeral container.
  void Container(const YamlNode& container, const std::string& path) {
    if (const YamlNode* context =
            Map(container, "securityContext", path, kContainerSecurityContext)) {
      ContainerSecurityContext(*context, Join(path, "securityContext"));
    }
    EachMapping(container, "ports", path, kHostPorts,
                [&](const YamlNode& port, const std::string& port_path) {
                  MustBeZero(port, "hostPort", port_path, kHostPorts);
                });
    for (std::string_view probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
      if (const YamlNode* handler = Map(container, probe, path, kHostProbes)) {
        Handler(*handler, Join(path, probe));
      }
    }
    if (const YamlNode* lifecycle = Map(container, "lifecycle", path, kHostProbes)) {
      std::string lifecycle_path = Join(path, "lifecycle");
      for (std::string_view hook : {"postStart", "preStop"}) {
        if (const YamlNode* handler = Map(*lifecycle, hook, lifecycle_path, kHostProbes)) {
          Handler(*handler, Join(lifecycle_path, hook));
        }
      }
    }
  }

  void ContainerSecurityContext(const YamlNode& context, const std::string& path) {
    MustBeFalse(context, "privileged", path, kPrivilegedContainers);
    if (const YamlNode* capabilities = Map(context, "capabilities", path, kCapabilities)) {
      EachOneOf(*capabilities, "add", Join(path, "capabilities"), kAllowedCapabilities,
                kCapabilities);
    }
    MustBeOneOf(context, "procMount", path, kProcMountTypes, kProcMount);
    MustBeAbsent(context, "ulimits", path, "setting ulimits", kUlimits);
    SharedSecurityContext(context, path);
  }

  // What pod and container security contexts share.
  void SharedSecurityContext(const YamlNode& context, const std::string& path) {
    if (const YamlNode* windows = Map(context, "windowsOptions", path, kHostProcess)) {
      MustBeFalse(*windows, "hostProcess", Join(path, "windowsOptions"), kHostProcess);
    }
    if (const YamlNode* selinux = Map(context, "seLinuxOptions", path, kSELinux)) {
      std::string selinux_path = Join(path, "seLinuxOptions");
      MustBeOneOf(*selinux, "type", selinux_path, kSELinuxTypes, kSELinux);
      MustBeOneOf(*selinux, "user", selinux_path, kEmpty, kSELinux);
      MustBeOneOf(*selinux, "role", selinux_path, kEmpty, kSELinux);
    }
    if (const YamlNode* seccomp = Map(context, "seccompProfile", path, kSeccomp)) {
      MustBeOneOf(*seccomp, "type", Join(path, "seccompProfile"), kProfileTypes, kSeccomp);
    }
    if (const YamlNode* apparmor = Map(context, "appArmorProfile", path, kAppArmor)) {
      MustBeOneOf(*apparmor, "type", Join(path, "appArmorProfile"), kProfileTypes, kAppArmor);
    }
  }

  // A probe or a lifecycle hook: neither may reach another host.
  void Handler(const YamlNode& handler, const std::string& path) {
    for (std::string_view action : {"httpGet", "tcpSocket"}) {
      if (const YamlNode* request = Map(handler, action, path, kHostProbes)) {
        MustBeOneOf(*request, "host", Join(path, action), kEmpty, kHostProbes);
      }
    }
  }

  std::string_view app_;
  Sink& sink_;
};

}  // namespace

std::string_view PodSecurityLevelName(PodSecurityLevel level) {
  switch (level) {
    case PodSecurityLevel::kBaseline:
      return "baseline";
    case PodSecurityLevel::kPrivileged:
      return "privileged";
  }
  return "?";
}

void CheckPodSecurity(const YamlNode& doc, std::string_view group, std::string_view kind,
                      std::string_view app, PodSecurityLevel level, Sink& sink) {
  std::vector<std::string_view> way;
  if (level == PodSecurityLevel::kPrivileged || !doc.IsMap() ||
      !PodTemplateWay(group, kind, &way)) {
    return;
  }
  Baseline baseline(app, sink);
  const YamlNode* holder = &doc;
  std::string path;
  for (std::string_view key : way) {
    holder = baseline.Map(*holder, key, path, kEveryControl);
    if (holder == nullptr) return;
    path = Join(path, key);
  }
  baseline.Pod(*holder, path);
}

std::vector<ServiceAccountUse> ServiceAccountsUsed(const YamlNode& doc, std::string_view group,
                                                   std::string_view kind) {
  std::vector<std::string_view> way;
  if (!doc.IsMap() || !PodTemplateWay(group, kind, &way)) return {};
  way.push_back("spec");
  const YamlNode* spec = &doc;
  std::string path;
  for (std::string_view key : way) {
    const YamlEntry* e = Find(*spec, key);
    if (e == nullptr || !e->value.IsMap()) return {};
    spec = &e->value;
    path = Join(path, key);
  }
  std::vector<ServiceAccountUse> uses;
  for (const YamlEntry& e : spec->entries) {
    if ((e.key != "serviceAccountName" && e.key != "serviceAccount") || e.value.IsNull()) continue;
    std::string_view name;
    std::string written = AsString(e.value, &name) ? std::string(name)
                          : e.value.IsScalar()     ? e.value.scalar
                                                   : std::string(e.value.KindName());
    uses.push_back({std::move(written), e.value.pos, Join(path, e.key)});
  }
  return uses;
}

}  // namespace pagoda::manifest

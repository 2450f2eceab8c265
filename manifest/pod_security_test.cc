// Every Baseline control with a failing and a passing variant, where the pod
// spec lives for each kind, and the fail-closed reading of values.
#include "manifest/pod_security.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pagoda::manifest {
namespace {

constexpr char kFile[] = "apps/shop/manifests/web.yaml";
constexpr char kPod[] = "spec.template.spec";
constexpr char kContainer[] = "spec.template.spec.containers[0]";

// The diagnostics of checking the first document of `yaml`, as
// Diagnostic::ToString() prints them.
std::vector<std::string> Check(std::string_view yaml, std::string_view group, std::string_view kind,
                               PodSecurityLevel level = PodSecurityLevel::kBaseline) {
  YamlResult read = ReadYaml(yaml, YamlLimits{});
  EXPECT_TRUE(read.ok) << read.error;
  if (!read.ok || read.documents.empty()) return {"unreadable"};
  std::vector<Diagnostic> diagnostics;
  Sink sink(kFile, &diagnostics);
  CheckPodSecurity(read.documents[0].root, group, kind, "shop", level, sink);
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) {
    EXPECT_EQ(d.severity, Severity::kError);
    out.push_back(d.ToString());
  }
  return out;
}

// What Check() prints for a violation of `control` by `what` at `field`.
std::string Violation(int line, int column, const std::string& field, std::string_view what,
                      std::string_view control) {
  return std::string(kFile) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         field + ": " + std::string(what) + " is not allowed at Pod Security level \"baseline\" (" +
         std::string(control) +
         "); the daemon config's podSecurity can grant app shop \"privileged\"";
}

std::string Indent(std::string_view text, int spaces) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && c != '\n') out.append(spaces, ' ');
    out += c;
    line_start = c == '\n';
  }
  return out;
}

// A Deployment with one container. `container` holds more of the container's
// fields and `pod` more of the pod spec's, both written from column 1. The
// container's start on line 11, column 9; the pod's follow them (with no
// container fields: line 11, column 7).
std::string Deployment(std::string_view container, std::string_view pod = "") {
  return "apiVersion: apps/v1\n"
         "kind: Deployment\n"
         "metadata:\n"
         "  name: web\n"
         "spec:\n"
         "  template:\n"
         "    spec:\n"
         "      containers:\n"
         "      - name: web\n"
         "        image: nginx\n" +
         Indent(container, 8) + Indent(pod, 6);
}

std::vector<std::string> CheckDeployment(std::string_view container, std::string_view pod = "") {
  return Check(Deployment(container, pod), "apps", "Deployment");
}

using Strings = std::vector<std::string>;

TEST(PodSecurity, LevelNames) {
  EXPECT_EQ(PodSecurityLevelName(PodSecurityLevel::kBaseline), "baseline");
  EXPECT_EQ(PodSecurityLevelName(PodSecurityLevel::kPrivileged), "privileged");
}

TEST(PodSecurity, PrivilegedContainers) {
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: true\n"),
            Strings{"apps/shop/manifests/web.yaml:12:23: "
                    "spec.template.spec.containers[0].securityContext.privileged: true is not "
                    "allowed at Pod Security level \"baseline\" (privileged containers); the "
                    "daemon config's podSecurity can grant app shop \"privileged\""});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: True\n"),
            Strings{Violation(12, 23, std::string(kContainer) + ".securityContext.privileged",
                              "True", "privileged containers")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: false\n"), Strings{});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: null\n"), Strings{});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged:\n"), Strings{});
  EXPECT_EQ(CheckDeployment("securityContext: {}\n"), Strings{});
  EXPECT_EQ(CheckDeployment(""), Strings{});
}

TEST(PodSecurity, HostProcess) {
  EXPECT_EQ(
      CheckDeployment("", "securityContext:\n  windowsOptions:\n    hostProcess: true\n"),
      Strings{Violation(13, 24, std::string(kPod) + ".securityContext.windowsOptions.hostProcess",
                        "true", "HostProcess")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  windowsOptions: {hostProcess: true}\n"),
            Strings{Violation(
                12, 41, std::string(kContainer) + ".securityContext.windowsOptions.hostProcess",
                "true", "HostProcess")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  windowsOptions: {hostProcess: false}\n",
                            "securityContext:\n  windowsOptions:\n    hostProcess: false\n"),
            Strings{});
}

TEST(PodSecurity, HostNamespaces) {
  EXPECT_EQ(CheckDeployment("", "hostNetwork: true\nhostPID: true\nhostIPC: true\n"),
            (Strings{
                Violation(11, 20, std::string(kPod) + ".hostNetwork", "true", "host namespaces"),
                Violation(12, 16, std::string(kPod) + ".hostPID", "true", "host namespaces"),
                Violation(13, 16, std::string(kPod) + ".hostIPC", "true", "host namespaces"),
            }));
  EXPECT_EQ(CheckDeployment("", "hostNetwork: false\nhostPID: false\nhostIPC: false\n"), Strings{});
}

TEST(PodSecurity, Capabilities) {
  std::string add = std::string(kContainer) + ".securityContext.capabilities.add";
  EXPECT_EQ(CheckDeployment("securityContext:\n"
                            "  capabilities:\n"
                            "    add: [NET_BIND_SERVICE, SYS_ADMIN, CHOWN, CAP_KILL, kill]\n"
                            "    drop: [ALL]\n"),
            (Strings{
                Violation(13, 37, add + "[1]", "\"SYS_ADMIN\"", "capabilities"),
                Violation(13, 55, add + "[3]", "\"CAP_KILL\"", "capabilities"),
                Violation(13, 65, add + "[4]", "\"kill\"", "capabilities"),
            }));
  EXPECT_EQ(CheckDeployment("securityContext:\n"
                            "  capabilities:\n"
                            "    add: [AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,\n"
                            "      MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID,\n"
                            "      SYS_CHROOT]\n"
                            "    drop: [ALL, SYS_ADMIN]\n"),
            Strings{});
}

TEST(PodSecurity, HostPathVolumes) {
  EXPECT_EQ(CheckDeployment("",
                            "volumes:\n- name: host\n  hostPath:\n    path: /\n"
                            "- name: scratch\n  emptyDir: {}\n"),
            Strings{Violation(13, 9, std::string(kPod) + ".volumes[0].hostPath",
                              "a hostPath volume", "hostPath volumes")});
  EXPECT_EQ(CheckDeployment("", "volumes:\n- name: scratch\n  emptyDir: {}\n  hostPath: null\n"),
            Strings{});
}

TEST(PodSecurity, HostPorts) {
  EXPECT_EQ(CheckDeployment("ports:\n- containerPort: 80\n  hostPort: 8080\n"
                            "- containerPort: 81\n  hostPort: 0\n- containerPort: 82\n"),
            Strings{Violation(13, 21, std::string(kContainer) + ".ports[0].hostPort", "8080",
                              "host ports")});
  EXPECT_EQ(CheckDeployment("ports:\n- containerPort: 80\n  hostPort: 0\n"), Strings{});
}

TEST(PodSecurity, HostProbesAndLifecycleHooks) {
  std::string c = kContainer;
  EXPECT_EQ(CheckDeployment("livenessProbe:\n"
                            "  httpGet: {host: 10.0.0.1, port: 80}\n"
                            "readinessProbe:\n"
                            "  tcpSocket: {host: node.local, port: 80}\n"
                            "startupProbe:\n"
                            "  httpGet: {host: \"\", port: 80}\n"
                            "lifecycle:\n"
                            "  postStart:\n"
                            "    tcpSocket: {host: 169.254.169.254, port: 80}\n"
                            "  preStop:\n"
                            "    httpGet:\n"
                            "      host: metadata.google.internal\n"
                            "      path: /\n"
                            "      port: 80\n"),
            (Strings{
                Violation(12, 27, c + ".livenessProbe.httpGet.host", "\"10.0.0.1\"",
                          "host probes and lifecycle hooks"),
                Violation(14, 29, c + ".readinessProbe.tcpSocket.host", "\"node.local\"",
                          "host probes and lifecycle hooks"),
                Violation(19, 31, c + ".lifecycle.postStart.tcpSocket.host", "\"169.254.169.254\"",
                          "host probes and lifecycle hooks"),
                Violation(22, 21, c + ".lifecycle.preStop.httpGet.host",
                          "\"metadata.google.internal\"", "host probes and lifecycle hooks"),
            }));
  EXPECT_EQ(CheckDeployment("livenessProbe:\n  httpGet: {path: /healthz, port: 80}\n"
                            "readinessProbe:\n  tcpSocket: {host: null, port: 80}\n"
                            "startupProbe:\n  grpc: {port: 9000}\n"
                            "lifecycle:\n  preStop:\n    sleep: {seconds: 5}\n"),
            Strings{});
}

TEST(PodSecurity, AppArmor) {
  std::string deployment =
      "apiVersion: apps/v1\n"
      "kind: Deployment\n"
      "metadata:\n"
      "  name: web\n"
      "  annotations:\n"
      "    container.apparmor.security.beta.kubernetes.io/web: unconfined\n"
      "spec:\n"
      "  template:\n"
      "    metadata:\n"
      "      annotations:\n"
      "        container.apparmor.security.beta.kubernetes.io/web: unconfined\n"
      "        container.apparmor.security.beta.kubernetes.io/log: runtime/default\n"
      "        container.apparmor.security.beta.kubernetes.io/db: localhost/db\n"
      "        container.apparmor.security.beta.kubernetes.io/tmp: \"\"\n"
      "        apparmor.example.com/web: unconfined\n"
      "    spec:\n"
      "      securityContext:\n"
      "        appArmorProfile: {type: Unconfined}\n"
      "      containers:\n"
      "      - name: web\n"
      "        securityContext:\n"
      "          appArmorProfile:\n"
      "            type: Unconfined\n"
      "      - name: log\n"
      "        securityContext:\n"
      "          appArmorProfile: {type: Localhost, localhostProfile: log}\n"
      "      - name: db\n"
      "        securityContext:\n"
      "          appArmorProfile: {type: RuntimeDefault}\n";
  // The Deployment's own annotations do not reach its pods.
  EXPECT_EQ(
      Check(deployment, "apps", "Deployment"),
      (Strings{
          Violation(11, 61,
                    "spec.template.metadata.annotations.container.apparmor.security.beta."
                    "kubernetes.io/web",
                    "\"unconfined\"", "AppArmor"),
          Violation(18, 33, "spec.template.spec.securityContext.appArmorProfile.type",
                    "\"Unconfined\"", "AppArmor"),
          Violation(23, 19, "spec.template.spec.containers[0].securityContext.appArmorProfile.type",
                    "\"Unconfined\"", "AppArmor"),
      }));
}

TEST(PodSecurity, SELinux) {
  std::string se = std::string(kContainer) + ".securityContext.seLinuxOptions";
  EXPECT_EQ(CheckDeployment("securityContext:\n"
                            "  seLinuxOptions:\n"
                            "    type: spc_t\n"
                            "    user: system_u\n"
                            "    role: system_r\n"
                            "    level: s0:c1\n"),
            (Strings{
                Violation(13, 19, se + ".type", "\"spc_t\"", "SELinux"),
                Violation(14, 19, se + ".user", "\"system_u\"", "SELinux"),
                Violation(15, 19, se + ".role", "\"system_r\"", "SELinux"),
            }));
  EXPECT_EQ(CheckDeployment("", "securityContext:\n  seLinuxOptions: {type: unconfined_t}\n"),
            Strings{Violation(12, 32, std::string(kPod) + ".securityContext.seLinuxOptions.type",
                              "\"unconfined_t\"", "SELinux")});
  EXPECT_EQ(
      CheckDeployment("securityContext:\n"
                      "  seLinuxOptions: {type: container_t, level: \"s0:c1,c2\", user: \"\"}\n",
                      "securityContext:\n"
                      "  seLinuxOptions: {type: container_engine_t, role: \"\"}\n"),
      Strings{});
  for (const char* type : {"container_init_t", "container_kvm_t", "\"\""}) {
    EXPECT_EQ(CheckDeployment(
                  "securityContext:\n  seLinuxOptions:\n    type: " + std::string(type) + "\n"),
              Strings{})
        << type;
  }
}

TEST(PodSecurity, ProcMountType) {
  EXPECT_EQ(CheckDeployment("securityContext:\n  procMount: Unmasked\n"),
            Strings{Violation(12, 22, std::string(kContainer) + ".securityContext.procMount",
                              "\"Unmasked\"", "/proc mount type")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  procMount: Default\n"), Strings{});
}

TEST(PodSecurity, Seccomp) {
  EXPECT_EQ(CheckDeployment("securityContext:\n  seccompProfile:\n    type: Unconfined\n",
                            "securityContext:\n  seccompProfile: {type: Unconfined}\n"),
            (Strings{
                Violation(15, 32, std::string(kPod) + ".securityContext.seccompProfile.type",
                          "\"Unconfined\"", "seccomp"),
                Violation(13, 19, std::string(kContainer) + ".securityContext.seccompProfile.type",
                          "\"Unconfined\"", "seccomp"),
            }));
  EXPECT_EQ(CheckDeployment("securityContext:\n  seccompProfile:\n    type: Localhost\n"
                            "    localhostProfile: profiles/web.json\n",
                            "securityContext:\n  seccompProfile: {type: RuntimeDefault}\n"),
            Strings{});
}

TEST(PodSecurity, Sysctls) {
  EXPECT_EQ(CheckDeployment("",
                            "securityContext:\n"
                            "  sysctls:\n"
                            "  - name: net.ipv4.tcp_notsent_lowat\n"
                            "    value: \"16384\"\n"
                            "  - name: kernel.msgmax\n"
                            "    value: \"65536\"\n"
                            "  - name: net/ipv4/tcp_syncookies\n"
                            "    value: \"1\"\n"),
            (Strings{
                Violation(15, 17, std::string(kPod) + ".securityContext.sysctls[1].name",
                          "\"kernel.msgmax\"", "sysctls"),
                Violation(17, 17, std::string(kPod) + ".securityContext.sysctls[2].name",
                          "\"net/ipv4/tcp_syncookies\"", "sysctls"),
            }));
  std::string safe;
  for (const char* name :
       {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_notsent_lowat"}) {
    safe += "  - {name: " + std::string(name) + ", value: \"1\"}\n";
  }
  EXPECT_EQ(CheckDeployment("", "securityContext:\n  sysctls:\n" + safe), Strings{});
}

TEST(PodSecurity, Ulimits) {
  EXPECT_EQ(CheckDeployment("securityContext:\n  ulimits:\n    nofile: {soft: 1024, hard: 2048}\n"),
            Strings{Violation(12, 11, std::string(kContainer) + ".securityContext.ulimits",
                              "setting ulimits", "ulimits")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  ulimits: null\n"), Strings{});
}

TEST(PodSecurity, ValuesOfTheWrongTypeAreViolations) {
  std::string privileged = std::string(kContainer) + ".securityContext.privileged";
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: \"maybe\"\n"),
            Strings{Violation(12, 23, privileged, "\"maybe\"", "privileged containers")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: maybe\n"),
            Strings{Violation(12, 23, privileged, "\"maybe\"", "privileged containers")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: \"false\"\n"),
            Strings{Violation(12, 23, privileged, "\"false\"", "privileged containers")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: 0\n"),
            Strings{Violation(12, 23, privileged, "0", "privileged containers")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  privileged: {enabled: false}\n"),
            Strings{Violation(12, 23, privileged, "a mapping", "privileged containers")});
  EXPECT_EQ(CheckDeployment("ports:\n- {containerPort: 80, hostPort: \"8080\"}\n"),
            Strings{Violation(12, 41, std::string(kContainer) + ".ports[0].hostPort", "\"8080\"",
                              "host ports")});
  EXPECT_EQ(CheckDeployment("ports:\n- {containerPort: 80, hostPort: 0.0}\n"),
            Strings{Violation(12, 41, std::string(kContainer) + ".ports[0].hostPort", "0.0",
                              "host ports")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  procMount: [Default]\n"),
            Strings{Violation(12, 22, std::string(kContainer) + ".securityContext.procMount",
                              "a list", "/proc mount type")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  capabilities: {add: SYS_ADMIN}\n"),
            Strings{Violation(12, 31, std::string(kContainer) + ".securityContext.capabilities.add",
                              "\"SYS_ADMIN\"", "capabilities")});
  EXPECT_EQ(CheckDeployment("securityContext:\n  capabilities: {add: [~, 7]}\n"),
            (Strings{
                Violation(12, 32, std::string(kContainer) + ".securityContext.capabilities.add[0]",
                          "null", "capabilities"),
                Violation(12, 35, std::string(kContainer) + ".securityContext.capabilities.add[1]",
                          "7", "capabilities"),
            }));
  EXPECT_EQ(
      CheckDeployment("", "hostNetwork: yes\n"),
      Strings{Violation(11, 20, std::string(kPod) + ".hostNetwork", "\"yes\"", "host namespaces")});
  EXPECT_EQ(CheckDeployment("", "securityContext:\n  seccompProfile: {type: 1}\n"),
            Strings{Violation(12, 32, std::string(kPod) + ".securityContext.seccompProfile.type",
                              "1", "seccomp")});
}

TEST(PodSecurity, ANodeOfTheWrongTypeViolatesEveryControlBeneathIt) {
  EXPECT_EQ(
      CheckDeployment("securityContext: privileged\n"),
      Strings{Violation(11, 26, std::string(kContainer) + ".securityContext", "\"privileged\"",
                        "HostProcess, privileged containers, capabilities, AppArmor, "
                        "SELinux, /proc mount type, seccomp, ulimits")});
  EXPECT_EQ(CheckDeployment("", "securityContext: [hostNetwork]\nvolumes: {hostPath: {}}\n"),
            (Strings{
                Violation(11, 24, std::string(kPod) + ".securityContext", "a list",
                          "HostProcess, AppArmor, SELinux, seccomp, sysctls"),
                Violation(12, 16, std::string(kPod) + ".volumes", "a mapping", "hostPath volumes"),
            }));
  EXPECT_EQ(CheckDeployment("", "initContainers:\n- privileged\n"),
            Strings{Violation(12, 9, std::string(kPod) + ".initContainers[0]", "\"privileged\"",
                              "HostProcess, privileged containers, capabilities, host ports, host "
                              "probes and lifecycle hooks, AppArmor, SELinux, /proc mount type, "
                              "seccomp, ulimits")});
  EXPECT_EQ(CheckDeployment("livenessProbe: {httpGet: \"http://10.0.0.1/\"}\n"),
            Strings{Violation(11, 34, std::string(kContainer) + ".livenessProbe.httpGet",
                              "\"http://10.0.0.1/\"", "host probes and lifecycle hooks")});
  EXPECT_EQ(Check("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template: [pod]\n", "apps",
                  "Deployment"),
            Strings{Violation(4, 13, "spec.template", "a list",
                              "HostProcess, host namespaces, privileged containers, capabilities, "
                              "hostPath volumes, host ports, host probes and lifecycle hooks, "
                              "AppArmor, SELinux, /proc mount type, seccomp, sysctls, ulimits")});
  EXPECT_EQ(Check("apiVersion: v1\nkind: Pod\nmetadata:\n  annotations: none\n", "", "Pod"),
            Strings{Violation(4, 16, "metadata.annotations", "\"none\"", "AppArmor")});
}

TEST(PodSecurity, KeysMatchExactly) {
  // Kubernetes drops these as unknown fields: nothing privileged runs.
  EXPECT_EQ(CheckDeployment("securityContext:\n  Privileged: true\n",
                            "HostNetwork: true\nsecurityContext: {SeccompProfile: Unconfined}\n"),
            Strings{});
  EXPECT_EQ(CheckDeployment("SecurityContext: {privileged: true}\n"), Strings{});
}

TEST(PodSecurity, EveryContainerIsChecked) {
  std::string deployment =
      "apiVersion: apps/v1\n"
      "kind: Deployment\n"
      "spec:\n"
      "  template:\n"
      "    spec:\n"
      "      initContainers:\n"
      "      - name: setup\n"
      "        securityContext: {privileged: true}\n"
      "      containers:\n"
      "      - name: web\n"
      "      - name: sidecar\n"
      "        securityContext: {privileged: true}\n";
  EXPECT_EQ(
      Check(deployment, "apps", "Deployment"),
      (Strings{
          Violation(12, 39, std::string(kPod) + ".containers[1].securityContext.privileged", "true",
                    "privileged containers"),
          Violation(8, 39, std::string(kPod) + ".initContainers[0].securityContext.privileged",
                    "true", "privileged containers"),
      }));
}

TEST(PodSecurity, TheKindSaysWhereThePodSpecIs) {
  const char* body = "      hostPID: true\n";
  for (auto [group, kind] : {std::pair{"", "ReplicationController"},
                             {"apps", "Deployment"},
                             {"apps", "StatefulSet"},
                             {"apps", "DaemonSet"},
                             {"apps", "ReplicaSet"},
                             {"batch", "Job"}}) {
    std::string doc = "kind: " + std::string(kind) + "\nspec:\n  template:\n    spec:\n" + body;
    EXPECT_EQ(Check(doc, group, kind),
              Strings{Violation(5, 16, "spec.template.spec.hostPID", "true", "host namespaces")})
        << kind;
  }
  EXPECT_EQ(Check("kind: PodTemplate\ntemplate:\n  spec:\n    hostPID: true\n", "", "PodTemplate"),
            Strings{Violation(4, 14, "template.spec.hostPID", "true", "host namespaces")});
}

TEST(PodSecurity, CronJob) {
  std::string cronjob =
      "apiVersion: batch/v1\n"
      "kind: CronJob\n"
      "metadata:\n"
      "  name: nightly\n"
      "spec:\n"
      "  schedule: \"0 3 * * *\"\n"
      "  jobTemplate:\n"
      "    spec:\n"
      "      template:\n"
      "        metadata:\n"
      "          annotations:\n"
      "            container.apparmor.security.beta.kubernetes.io/job: unconfined\n"
      "        spec:\n"
      "          restartPolicy: OnFailure\n"
      "          initContainers:\n"
      "          - name: setup\n"
      "            image: busybox\n"
      "            securityContext:\n"
      "              privileged: true\n"
      "          containers:\n"
      "          - name: job\n"
      "            image: busybox\n";
  std::string pod = "spec.jobTemplate.spec.template.spec";
  EXPECT_EQ(Check(cronjob, "batch", "CronJob"),
            (Strings{
                Violation(12, 65,
                          "spec.jobTemplate.spec.template.metadata.annotations.container.apparmor."
                          "security.beta.kubernetes.io/job",
                          "\"unconfined\"", "AppArmor"),
                Violation(19, 27, pod + ".initContainers[0].securityContext.privileged", "true",
                          "privileged containers"),
            }));
}

TEST(PodSecurity, PodWithEphemeralContainers) {
  std::string pod =
      "apiVersion: v1\n"
      "kind: Pod\n"
      "metadata:\n"
      "  name: debug\n"
      "  annotations:\n"
      "    container.apparmor.security.beta.kubernetes.io/debugger: unconfined\n"
      "spec:\n"
      "  containers:\n"
      "  - name: web\n"
      "    image: nginx\n"
      "  ephemeralContainers:\n"
      "  - name: debugger\n"
      "    image: busybox\n"
      "    securityContext:\n"
      "      capabilities: {add: [SYS_PTRACE]}\n";
  EXPECT_EQ(Check(pod, "", "Pod"),
            (Strings{
                Violation(6, 62,
                          "metadata.annotations.container.apparmor.security.beta.kubernetes.io/"
                          "debugger",
                          "\"unconfined\"", "AppArmor"),
                Violation(15, 28, "spec.ephemeralContainers[0].securityContext.capabilities.add[0]",
                          "\"SYS_PTRACE\"", "capabilities"),
            }));
}

TEST(PodSecurity, KindsWithoutPodsAreNotChecked) {
  std::string configmap =
      "apiVersion: v1\n"
      "kind: ConfigMap\n"
      "metadata:\n"
      "  name: pod-template\n"
      "  annotations:\n"
      "    container.apparmor.security.beta.kubernetes.io/web: unconfined\n"
      "spec:\n"
      "  hostNetwork: true\n"
      "  template:\n"
      "    spec:\n"
      "      hostPID: true\n"
      "data:\n"
      "  pod.yaml: |\n"
      "    spec:\n"
      "      containers:\n"
      "      - securityContext: {privileged: true}\n";
  EXPECT_EQ(Check(configmap, "", "ConfigMap"), Strings{});
  // The kind alone does not say it: it is the group's.
  std::string deployment = Deployment("securityContext: {privileged: true}\n");
  EXPECT_EQ(Check(deployment, "example.com", "Deployment"), Strings{});
  EXPECT_EQ(Check(deployment, "", "Deployment"), Strings{});
  EXPECT_EQ(Check(deployment, "apps", "deployment"), Strings{});
  EXPECT_EQ(Check("- kind: Pod\n  spec: {hostPID: true}\n", "", "Pod"), Strings{});
}

TEST(PodSecurity, ThePrivilegedLevelChecksNothing) {
  std::string deployment = Deployment(
      "securityContext:\n  privileged: true\n  capabilities: {add: [SYS_ADMIN]}\n"
      "  procMount: Unmasked\nports:\n- {containerPort: 80, hostPort: 80}\n",
      "hostNetwork: true\nhostPID: true\nvolumes:\n- {name: root, hostPath: {path: /}}\n");
  EXPECT_EQ(Check(deployment, "apps", "Deployment").size(), 7u);
  EXPECT_EQ(Check(deployment, "apps", "Deployment", PodSecurityLevel::kPrivileged), Strings{});
}

std::vector<ServiceAccountUse> Uses(std::string_view yaml, std::string_view group,
                                    std::string_view kind) {
  YamlResult read = ReadYaml(yaml, YamlLimits{});
  EXPECT_TRUE(read.ok) << read.error;
  if (!read.ok || read.documents.empty()) return {};
  return ServiceAccountsUsed(read.documents[0].root, group, kind);
}

TEST(PodSecurityServiceAccounts, BothFieldsWhereverThePodSpecIs) {
  std::vector<ServiceAccountUse> uses =
      Uses(Deployment("", "serviceAccountName: builder\n"), "apps", "Deployment");
  ASSERT_EQ(uses.size(), 1u);
  EXPECT_EQ(uses[0].name, "builder");
  EXPECT_EQ(uses[0].field, "spec.template.spec.serviceAccountName");
  EXPECT_EQ(uses[0].pos.line, 11);
  EXPECT_EQ(uses[0].pos.column, 27);

  uses =
      Uses("kind: Pod\nspec:\n  serviceAccount: deployer\n  serviceAccountName: \"\"\n", "", "Pod");
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].name, "deployer");
  EXPECT_EQ(uses[0].field, "spec.serviceAccount");
  EXPECT_EQ(uses[0].pos.line, 3);
  EXPECT_EQ(uses[0].pos.column, 19);
  EXPECT_EQ(uses[1].name, "");
  EXPECT_EQ(uses[1].field, "spec.serviceAccountName");

  uses = Uses(
      "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
      "          serviceAccount: {name: admin}\n",
      "batch", "CronJob");
  ASSERT_EQ(uses.size(), 1u);
  EXPECT_EQ(uses[0].name, "a mapping");
  EXPECT_EQ(uses[0].field, "spec.jobTemplate.spec.template.spec.serviceAccount");
}

TEST(PodSecurityServiceAccounts, NoneOutsidePodSpecs) {
  EXPECT_TRUE(Uses(Deployment("", "serviceAccountName: null\n"), "apps", "Deployment").empty());
  EXPECT_TRUE(
      Uses("kind: ConfigMap\nspec:\n  serviceAccountName: admin\n", "", "ConfigMap").empty());
  EXPECT_TRUE(Uses("kind: Pod\nspec: admin\n", "", "Pod").empty());
  EXPECT_TRUE(
      Uses("kind: Deployment\nspec:\n  serviceAccountName: admin\n", "apps", "Deployment").empty());
}

}  // namespace
}  // namespace pagoda::manifest

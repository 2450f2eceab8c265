// What integration tests know of the local control plane that the `cluster`
// CTest fixture started (tests/cluster/up): where it is, how to authenticate
// as an administrator or as pagoda's ServiceAccount, and a few helpers that
// keep each test in a namespace of its own.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kube/kube.h"

namespace pagoda::testing {

struct TestCluster {
  std::string dir;
  std::string server;
  std::string admin_kubeconfig;
  std::string pagoda_kubeconfig;
  std::string kubectl;
  // The API server's audit log of writes (tests/integration/audit_log.h).
  std::string audit_log;

  // Reads $PAGODA_TEST_CLUSTER_DIR/env once. Aborts the test binary with a
  // clear message when the cluster is not up (run through ctest, which starts
  // it, or run tests/cluster/up and export PAGODA_TEST_CLUSTER_DIR).
  static const TestCluster& Get();

  kube::Credentials Admin() const;
  kube::Credentials Pagoda() const;  // the rights deploy/rbac.yaml grants, no more

  // Runs kubectl as the administrator; returns its exit code and fills `out`
  // with stdout and stderr.
  int Kubectl(const std::vector<std::string>& args, std::string* out) const;
};

// Runs a program (argv[0] is its path) and returns its exit code, with its
// stdout and stderr in `out`.
int Run(const std::vector<std::string>& argv, std::string* out);

// A process started for a test and stopped (SIGTERM, then SIGKILL) by its PID
// when this object goes away. Its stdout can be read line by line.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // Waits for it to exit, at most `timeout`; true (and its wait status in
  // `status`) when it did. It is not stopped again when this object goes.
  bool WaitForExit(std::chrono::milliseconds timeout, int* status = nullptr);
  // The next line of its stdout, without the newline; "" at end of output
  // or after `timeout`.
  std::string ReadLine(std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

// A namespace that exists for the lifetime of this object: created by the
// administrator with a unique name from `prefix`, deleted (without waiting) on
// destruction. kPagodas labels it as pagoda labels the namespace of an app
// (app.kubernetes.io/managed-by=pagoda, app.kubernetes.io/name=its name): the
// only namespaces where the API server lets pagoda write (deploy/admission.yaml).
class ScopedNamespace {
 public:
  enum class Labels { kNone, kPagodas };
  explicit ScopedNamespace(const std::string& prefix, Labels labels = Labels::kNone);
  ~ScopedNamespace();
  ScopedNamespace(const ScopedNamespace&) = delete;
  ScopedNamespace& operator=(const ScopedNamespace&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// A client with `creds`; nullptr (and a failed test) when it cannot be made.
std::unique_ptr<kube::KubeClient> Connect(kube::Credentials creds);

// `text` parsed; a failed test when it is not JSON.
rapidjson::Document Json(const std::string& text);

// Polls `condition` every 100 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A name unique across concurrent test processes: prefix-<pid>-<counter>-<random>.
std::string UniqueName(const std::string& prefix);

// A loopback port nothing listens on now (the kernel's choice, released at
// once), for a program that must be told its port.
int FreePort();

}  // namespace pagoda::testing

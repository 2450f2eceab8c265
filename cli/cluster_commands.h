// `pagoda diff` and `pagoda sync`: the config repository against live
// clusters, once, from the command line.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace pagoda::cli {

struct ClusterFlags {
  std::string repo = ".";
  std::vector<std::string> targets;   // APP or APP/ENV; empty: everything
  std::string kubeconfig;             // "": $KUBECONFIG or ~/.kube/config
  std::vector<std::string> clusters;  // NAME=CONTEXT or NAME=KUBECONFIG[:CONTEXT]
  std::string all_clusters_to;        // a context for every cluster
  bool dry_run = false;               // sync: let the API server check, keep nothing
  std::string commit;                 // sync: the pagoda.dev/commit annotation
  double qps = 50;
  int burst = 100;
  bool rate_limit_given = false;  // --qps or --burst: the limit holds whatever the server
  bool color = false;             // diff: colour for a terminal
  std::string config;             // a daemon config: its tenancy settings apply
};

// Exit codes: 0 no differences, 1 differences, 2 usage, 3 errors (an app that
// does not load or render, an unreachable cluster, a refused request).
int RunDiff(const ClusterFlags& flags, std::ostream& out, std::ostream& err);
// Exit codes: 0 everything selected is in sync now, 2 usage, 3 errors (the
// apps and clusters without errors are still synced).
int RunSync(const ClusterFlags& flags, std::ostream& out, std::ostream& err);

}  // namespace pagoda::cli

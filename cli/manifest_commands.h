// `pagoda validate` and `pagoda render`: the config repository on the command
// line, no cluster involved.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace pagoda::cli {

struct ManifestFlags {
  std::string repo = ".";
  std::vector<std::string> targets;   // APP or APP/ENV; empty: everything
  std::string output;                 // validate: "" or "json"; render: "yaml" or "json"
  std::string node_allocatable;       // "cpu=7.5,memory=15Gi"
  std::vector<std::string> clusters;  // NAME or NAME=CONTEXT: the known clusters
  std::string commit;                 // render: the pagoda.dev/commit annotation
  std::string config;                 // a daemon config: its tenancy settings apply
};

// Exit codes: 0 valid (warnings allowed), 1 errors in the repository, 2 usage.
int RunValidate(const ManifestFlags& flags, std::ostream& out, std::ostream& err);
int RunRender(const ManifestFlags& flags, std::ostream& out, std::ostream& err);

}  // namespace pagoda::cli

// daemon/ is the pagoda process: the command line, and (as they land) the Git
// source, the reconcile loop, the release journal, the HTTP endpoints and the
// control socket. It ties the other modules together and is the only one
// that knows about processes, signals and the state directory.
#pragma once

namespace pagoda::cli {

// Runs the `pagoda` command line and returns the process exit code:
// 0 success, 1 a negative answer (invalid config, differences found),
// 2 usage errors, greater values for failures.
int RunCli(int argc, char** argv);

}  // namespace pagoda::cli

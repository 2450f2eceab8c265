// What the cluster benchmarks share: where the cluster is, how big the
// generated repository is, and a duration in milliseconds for results.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace pagoda::bench {

template <typename Duration>
double Ms(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// A benchmark against a cluster with a generated repository in `scratch`.
struct ClusterArgs {
  std::string kubeconfig;
  std::string context;
  std::string scratch;
  int environments = 1000;
};

// --kubeconfig, --context and, with `repository`, --scratch and --environments.
inline void AddClusterOptions(CLI::App& app, ClusterArgs* args, bool repository = true) {
  app.add_option("--kubeconfig", args->kubeconfig)->required();
  app.add_option("--context", args->context);
  if (!repository) return;
  app.add_option("--scratch", args->scratch)->required();
  app.add_option("--environments", args->environments, "even")->check(CLI::Range(2, 1 << 20));
}

// Parses the command line into `app`'s options; a usage error, or an odd
// --environments, is an exit code (CLI11's).
inline std::optional<int> Parse(CLI::App& app, int argc, char** argv, const ClusterArgs& args) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (args.environments % 2 != 0) return app.exit(CLI::ValidationError("--environments", "even"));
  return std::nullopt;
}

// main() of a benchmark: its arguments parsed (a usage error is an exit
// code, CLI11's), then the run.
template <typename Args, typename Parse, typename Run>
int Main(int argc, char** argv, Parse parse, Run run) {
  Args args;
  if (std::optional<int> exit = parse(argc, argv, &args)) return *exit;
  return run(args);
}

}  // namespace pagoda::bench

#include "cli/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/cluster_commands.h"
#include "cli/history_commands.h"
#include "cli/manifest_commands.h"
#include "daemon/daemon.h"
#include "pagoda/version.h"
#include "source/source.h"

namespace pagoda::cli {

using daemon::DaemonFlags;
using daemon::RunDaemon;
namespace {

// --repo and the APP or APP/ENV targets: every command that reads a repository.
void AddRepoAndTargets(CLI::App* command, std::string* repo, std::vector<std::string>* targets) {
  command
      ->add_option("--repo", *repo,
                   "the config repository: a directory holding apps/ (default: the current "
                   "directory)")
      ->check(CLI::ExistingDirectory);
  command->add_option("targets", *targets, "APP or APP/ENV to limit the command to");
}

void AddConfigOption(CLI::App* command, std::string* config) {
  command->add_option("--config", *config,
                      "a daemon config file: its reservedNamespaces, podSecurity and limits "
                      "apply, as in the daemon");
}

// The options `validate` and `render` share.
void AddRepositoryOptions(CLI::App* command, ManifestFlags* flags) {
  AddRepoAndTargets(command, &flags->repo, &flags->targets);
  command->add_option("--cluster", flags->clusters,
                      "NAME or NAME=CONTEXT: a known cluster (repeatable); environments must "
                      "name one of them when any is given");
  AddConfigOption(command, &flags->config);
  command->add_option("--node-allocatable", flags->node_allocatable,
                      "what one node can allocate, e.g. cpu=7.5,memory=15Gi: warn about "
                      "instances that cannot fit");
}

// The options `diff` and `sync` share: the repository and where its clusters are.
void AddClusterOptions(CLI::App* command, ClusterFlags* flags) {
  AddRepoAndTargets(command, &flags->repo, &flags->targets);
  AddConfigOption(command, &flags->config);
  command->add_option("--kubeconfig", flags->kubeconfig,
                      "the kubeconfig to read (default: $KUBECONFIG or ~/.kube/config)");
  command->add_option("--cluster", flags->clusters,
                      "NAME=CONTEXT or NAME=KUBECONFIG[:CONTEXT]: where cluster NAME of the "
                      "repository is (repeatable; default: the context named NAME)");
  command->add_option("--all-clusters-to", flags->all_clusters_to,
                      "send every cluster of the repository to this context");
  auto given = [flags](const std::string&) { flags->rate_limit_given = true; };
  command
      ->add_option("--qps", flags->qps,
                   "API requests per second at most (default 50, lifted when the server has "
                   "API Priority and Fairness)")
      ->each(given);
  command->add_option("--burst", flags->burst, "API request burst (default 100)")->each(given);
}

}  // namespace

int RunCli(int argc, char** argv) {
  // Logs go to stderr: stdout carries what a command answers (objects,
  // diffs, change sets), which scripts read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("pagoda"));

  CLI::App app{
      "pagoda: a GitOps release daemon for Kubernetes. It renders the apps of a Git\n"
      "repository into Kubernetes objects and releases them in batches, with a record\n"
      "of every release.",
      "pagoda"};
  app.set_version_flag("--version", std::string("pagoda ") + kVersion + "\ncommit " + kCommit +
                                        "\nbuilt " + kBuildDate);
  app.require_subcommand(0, 1);
  app.footer("Run `pagoda COMMAND --help` for a command's options.");

  ManifestFlags validate_flags;
  bool validate_json = false;
  CLI::App* validate = app.add_subcommand(
      "validate",
      "Check the config repository: every error and warning at once. Exit 0 when valid "
      "(warnings allowed), 1 with errors, 2 on usage errors.");
  AddRepositoryOptions(validate, &validate_flags);
  validate->add_option("-o,--output", validate_flags.output, "json: machine-readable output")
      ->check(CLI::IsMember({"text", "json"}));
  validate->add_flag("--json", validate_json, "same as -o json");

  ManifestFlags render_flags;
  render_flags.output = "yaml";
  CLI::App* render = app.add_subcommand(
      "render",
      "Print the Kubernetes objects the repository renders to, applicable with "
      "`kubectl apply -f -`. Exit 1 when an app has errors (the others are still printed).");
  AddRepositoryOptions(render, &render_flags);
  render->add_option("-o,--output", render_flags.output, "yaml (default) or json (a v1 List)")
      ->check(CLI::IsMember({"yaml", "json"}));
  render->add_option("--commit", render_flags.commit,
                     "set the pagoda.dev/commit annotation on every object");

  ClusterFlags diff_flags;
  CLI::App* diff = app.add_subcommand(
      "diff",
      "Show how the clusters differ from the repository, per object, like `kubectl diff`. "
      "Exit 0 no differences, 1 differences, 2 usage, 3 errors.");
  AddClusterOptions(diff, &diff_flags);

  ClusterFlags sync_flags;
  CLI::App* sync = app.add_subcommand(
      "sync",
      "Make the clusters match the repository now: apply what differs, retire earlier "
      "revisions, prune what the prune policy allows. Prints the change set. Exit 0 in sync, "
      "2 usage, 3 errors.");
  AddClusterOptions(sync, &sync_flags);
  sync->add_flag("--dry-run", sync_flags.dry_run,
                 "have the API server check every change and keep none");
  sync->add_option("--commit", sync_flags.commit,
                   "record this commit in the pagoda.dev/commit annotation of written objects");

  DaemonFlags daemon_flags;
  CLI::App* daemon = app.add_subcommand(
      "daemon",
      "Run pagoda: fetch the repository every interval and release what changes, one release "
      "order per environment, each recorded in the journal. Stops on SIGTERM or SIGINT.");
  daemon->add_option("--config", daemon_flags.config, "the config file (see README)");
  daemon->add_option("--repo", daemon_flags.repo,
                     "the repository URL or path (overrides the file)");
  daemon->add_option("--ref", daemon_flags.ref, "branch, tag or commit to track");
  daemon->add_option("--path", daemon_flags.path, "sub-directory of the repository holding apps/");
  daemon->add_option("--state-dir", daemon_flags.state_dir, "bare clone, journal, control socket");
  daemon->add_option("--interval", daemon_flags.interval, "fetch period, e.g. 30s");
  daemon->add_option("--drift-interval", daemon_flags.drift_interval,
                     "full reconcile without a new commit, e.g. 5m");

  HistoryCommands history(&app);

  // The daemon's fetch, in a process of its own so that it can be ended at
  // its deadline (source::FetchInChild). Not for people: no help line.
  CLI::App* internal_fetch =
      app.add_subcommand("internal-fetch", "fetch as the daemon asks on stdin")->group("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    // CLI11 returns 0 for --help/--version and its own codes otherwise; usage
    // errors are 2 here, like most Unix tools.
    return code == 0 ? 0 : 2;
  }
  if (validate->parsed()) {
    if (validate_json) validate_flags.output = "json";
    return RunValidate(validate_flags, std::cout, std::cerr);
  }
  if (render->parsed()) return RunRender(render_flags, std::cout, std::cerr);
  if (diff->parsed()) {
    diff_flags.color = isatty(STDOUT_FILENO) != 0;
    return RunDiff(diff_flags, std::cout, std::cerr);
  }
  if (sync->parsed()) return RunSync(sync_flags, std::cout, std::cerr);
  if (daemon->parsed()) return RunDaemon(daemon_flags, std::cerr);
  if (internal_fetch->parsed()) return source::ServeFetchRequest(std::cin, std::cout);
  if (std::optional<int> code = history.Run(std::cout, std::cerr)) return *code;
  std::cout << app.help();
  return 0;
}

}  // namespace pagoda::cli

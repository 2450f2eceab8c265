#include "daemon/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "pagoda/version.h"

namespace pagoda::daemon {

int RunCli(int argc, char** argv) {
  CLI::App app{
      "pagoda: a GitOps release daemon for Kubernetes. It renders the apps of a Git\n"
      "repository into Kubernetes objects and releases them in batches, with a record\n"
      "of every release.",
      "pagoda"};
  app.set_version_flag("--version", std::string("pagoda ") + kVersion);
  app.require_subcommand(0, 1);
  app.footer("Run `pagoda COMMAND --help` for a command's options.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    // CLI11 returns 0 for --help/--version and its own codes otherwise; usage
    // errors are 2 here, like most Unix tools.
    return code == 0 ? 0 : 2;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  return 0;
}

}  // namespace pagoda::daemon

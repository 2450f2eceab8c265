#include "cli/cli.h"

int main(int argc, char** argv) { return pagoda::cli::RunCli(argc, argv); }

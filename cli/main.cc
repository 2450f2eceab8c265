#include "cli/cli.h"

int main(int argc, char** argv) { return pagoda::daemon::RunCli(argc, argv); }

// Writes the generated config repository (bench/generated_repo.h) to a
// directory, for benchmarks that need it on disk or in Git: the daemon's,
// the API server's limit and Flux side by side. Not a test.
//
//   pagoda_gen_repo --out DIR [--environments N] [--prefix P]
//                   [--test-replicas R] [--prod-replicas R] [--image-tag T]
//
// N environments are N/2 apps, each with a test and a prod environment.
// --image-tag T sets the image tag of every app (default: 1.4.<i mod 10>),
// so that a second run over the same DIR with another tag is a commit that
// touches them all; --only FIRST:COUNT limits that to COUNT apps from FIRST.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench/generated_repo.h"

namespace {

namespace fs = std::filesystem;

struct Args {
  std::string out;
  int environments = 1000;
  std::string prefix = "app-";
  int test_replicas = 2;
  int prod_replicas = 4;
  std::string image_tag;
  std::string only;  // FIRST:COUNT
};

// Replaces the image tag in a DeployConfig's text.
std::string WithTag(std::string text, const std::string& tag) {
  const std::string key = "  image: ";
  size_t at = text.find(key);
  if (at == std::string::npos) return text;
  size_t colon = text.find(':', at + key.size());
  size_t end = text.find('\n', at);
  if (colon == std::string::npos || colon > end) return text;
  return text.replace(colon + 1, end - colon - 1, tag);
}

bool Write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) std::fprintf(stderr, "pagoda_gen_repo: cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

int Run(const Args& args) {
  int first = 0, count = args.environments / 2;
  if (!args.only.empty() && std::sscanf(args.only.c_str(), "%d:%d", &first, &count) != 2) {
    std::fprintf(stderr, "pagoda_gen_repo: --only takes FIRST:COUNT\n");
    return 2;
  }
  pagoda::manifest::GeneratedRepoOptions options{.apps = args.environments / 2,
                                                 .prefix = args.prefix,
                                                 .test_replicas = args.test_replicas,
                                                 .prod_replicas = args.prod_replicas};
  for (int i = first; i < first + count && i < options.apps; ++i) {
    pagoda::manifest::MemorySource app;
    pagoda::manifest::AddGeneratedApp(app, options, i);
    auto files = app.ListFiles("");
    if (!files.ok()) return 1;
    for (const std::string& path : *files) {
      std::string text = *app.ReadFile(path, 1 << 20);
      if (!args.image_tag.empty() && path.find("/deploy/") != std::string::npos) {
        text = WithTag(std::move(text), args.image_tag);
      }
      if (!Write(fs::path(args.out) / path, text)) return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app("pagoda_gen_repo: the benchmarks' generated config repository, on disk");
  app.add_option("--out", args.out, "the repository's directory")->required();
  app.add_option("--environments", args.environments, "even")->check(CLI::Range(2, 1 << 20));
  app.add_option("--prefix", args.prefix, "app i is named PREFIX + i");
  app.add_option("--test-replicas", args.test_replicas)->check(CLI::Range(0, 1000));
  app.add_option("--prod-replicas", args.prod_replicas)->check(CLI::Range(0, 1000));
  app.add_option("--image-tag", args.image_tag, "the image tag of the apps written");
  app.add_option("--only", args.only, "FIRST:COUNT: write only these apps");
  CLI11_PARSE(app, argc, argv);
  return Run(args);
}

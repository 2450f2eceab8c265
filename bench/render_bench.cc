// Loads, validates and renders a generated repository of 1,000 apps with two
// environments each, and reports wall time, CPU time and peak RSS. Not a test:
// run it by hand (`pagoda_render_bench [APPS]`). Target: under 1 s on one core
// and under 100 MiB.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/generated_repo.h"
#include "manifest/manifest.h"

namespace {

using pagoda::manifest::MemorySource;

double Seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  int apps = argc > 1 ? std::atoi(argv[1]) : 1000;
  MemorySource source;
  size_t bytes = 0;
  pagoda::manifest::AddGeneratedApps(source, {.apps = apps});
  std::vector<std::string> paths = source.ListFiles("").value();
  for (const std::string& path : paths) bytes += source.ReadFile(path, 1 << 20)->size();

  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  auto start = std::chrono::steady_clock::now();

  pagoda::manifest::LoadOptions options;
  options.known_clusters = {"test", "prod"};
  pagoda::manifest::Repository repo = pagoda::manifest::LoadRepository(source, options);
  auto loaded = std::chrono::steady_clock::now();
  size_t objects = 0, json_bytes = 0;
  std::vector<pagoda::manifest::RenderedApp> kept;
  for (const auto& app : repo.apps) {
    if (!app.valid) {
      std::fprintf(stderr, "%s is invalid: %s\n", app.name.c_str(),
                   app.diagnostics.empty() ? "?" : app.diagnostics[0].ToString().c_str());
      return 1;
    }
    auto rendered = pagoda::manifest::RenderApp(app.model(), {"0123456789abcdef"});
    if (!rendered.ok()) return 1;
    for (const auto& o : rendered->AllObjects()) {
      ++objects;
      json_bytes += o.json.size();
    }
    kept.push_back(std::move(rendered.value()));  // held to the end, as a caller would
  }
  auto done = std::chrono::steady_clock::now();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);

  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  double cpu = Seconds(after.ru_utime) + Seconds(after.ru_stime) - Seconds(before.ru_utime) -
               Seconds(before.ru_stime);
  std::printf("apps: %d, environments: %d, input: %.1f MiB, objects: %zu (%.1f MiB of JSON)\n",
              apps, 2 * apps, bytes / 1048576.0, objects, json_bytes / 1048576.0);
  std::printf("wall: %.0f ms (load+validate %.0f ms, render %.0f ms), cpu: %.0f ms\n",
              ms(done - start), ms(loaded - start), ms(done - loaded), cpu * 1000);
  std::printf("peak rss: %.1f MiB\n", after.ru_maxrss / 1024.0);
  return 0;
}

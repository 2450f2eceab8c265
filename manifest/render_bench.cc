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

#include "manifest/manifest.h"

namespace {

using pagoda::manifest::MemorySource;

void AddApp(MemorySource& source, int i) {
  std::string app = "app-" + std::to_string(i);
  std::string dir = "apps/" + app + "/";
  source.Add(dir + "app.yaml", "apiVersion: pagoda.dev/v1\nkind: App\nmetadata:\n  name: " + app +
                                   "\nspec:\n  description: generated app " + std::to_string(i) +
                                   "\n  owners: [team-" + std::to_string(i % 17) +
                                   "@example.com]\n");
  source.Add(dir + "deploy/web.yaml",
             "apiVersion: pagoda.dev/v1\n"
             "kind: DeployConfig\n"
             "metadata:\n  name: web\n"
             "spec:\n"
             "  image: registry.example.com/shop/" +
                 app + ":1.4." + std::to_string(i % 10) +
                 "\n"
                 "  cpu: 250m\n"
                 "  memory: 256Mi\n"
                 "  command: [/app/bin/web]\n"
                 "  env:\n"
                 "    LOG_FORMAT: json\n"
                 "    DB_PASSWORD: {secret: " +
                 app +
                 "-db, key: password}\n"
                 "  files:\n"
                 "    - path: /app/config/application.properties\n"
                 "      content: |\n"
                 "        server.port=8080\n"
                 "        app.id=" +
                 std::to_string(i) +
                 "\n"
                 "  mounts:\n"
                 "    - {path: /data/cache, type: emptyDir}\n"
                 "  ports:\n"
                 "    - {name: http, port: 8080}\n"
                 "  health:\n"
                 "    http: {path: /healthz, port: 8080}\n"
                 "    initialDelay: 5s\n"
                 "    period: 5s\n"
                 "  shutdown: {preStopSleep: 5s, gracePeriod: 30s}\n");
  for (const char* env : {"test", "prod"}) {
    bool prod = std::string(env) == "prod";
    source.Add(
        dir + "envs/" + env + ".yaml",
        std::string("apiVersion: pagoda.dev/v1\n"
                    "kind: Environment\n"
                    "metadata:\n  name: ") +
            env +
            "\n"
            "spec:\n"
            "  cluster: " +
            env +
            "\n"
            "  deployConfig: web\n"
            "  replicas: " +
            (prod ? "4" : "2") +
            "\n"
            "  release: {batches: 2, pause: " +
            (prod ? "first" : "none") +
            ", batchInterval: 30s}\n"
            "  sync: {auto: true, selfHeal: true}\n"
            "  traffic:\n"
            "    - {name: web, protocol: http, port: 80, targetPort: 8080, exposure: public, "
            "host: " +
            app + "." + env +
            ".example.com, sessionAffinity: true}\n"
            "    - {name: admin, protocol: tcp, port: 9000, targetPort: 8080}\n");
  }
}

double Seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  int apps = argc > 1 ? std::atoi(argv[1]) : 1000;
  MemorySource source;
  size_t bytes = 0;
  for (int i = 0; i < apps; ++i) AddApp(source, i);
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
    auto rendered = pagoda::manifest::RenderApp(app.model, {"0123456789abcdef"});
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

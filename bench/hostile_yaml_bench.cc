// Loads a repository holding one valid app and one app with a hostile file,
// and reports how long that took and the process's peak resident memory.
// Targets: under 100 ms and 32 MiB for each case, with the hostile app
// refused and the valid one loaded.
//
//   bomb     820 KB: an anchored 700 KB string and 40,000 aliases of it
//            (28 GB if every copy were made)
//   aliases  900 KB: one small anchored value named 100,000 times
//
// One case per process, so that each peak is its own.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "base/memory.h"
#include "manifest/manifest.h"

namespace {

using pagoda::manifest::MemorySource;

void AddApp(MemorySource& source, const std::string& name) {
  source.Add("apps/" + name + "/app.yaml",
             "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: " + name + "}\n");
  source.Add("apps/" + name + "/deploy/web.yaml",
             "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata: {name: web}\n"
             "spec: {image: registry.example.com/web:1, cpu: \"0.5\", memory: 512Mi}\n");
  source.Add("apps/" + name + "/envs/prod.yaml",
             "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: prod}\n"
             "spec: {cluster: prod, deployConfig: web, replicas: 2}\n");
}

std::string Header() { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hostile}\n"; }

std::string Bomb() {
  std::string text = Header() + "x: &s " + std::string(700 * 1000, 'x') + "\ny: [*s";
  for (int i = 1; i < 40000; ++i) text += ",*s";
  return text + "]\n";
}

std::string ManyAliases() {
  std::string text = Header() + "x: &abcde v\ny:\n";
  for (int i = 0; i < 100000; ++i) text += "- *abcde\n";
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Loads one hostile YAML file beside a valid app; prints time and peak memory."};
  std::string which;
  cli.add_option("case", which, "bomb or aliases")
      ->required()
      ->check(CLI::IsMember({"bomb", "aliases"}));
  CLI11_PARSE(cli, argc, argv);

  MemorySource source;
  AddApp(source, "good");
  AddApp(source, "hostile");
  const std::string text = which == "bomb" ? Bomb() : ManyAliases();
  source.Add("apps/hostile/manifests/hostile.yaml", text);
  const int64_t before_kib = pagoda::Resident().now_kib;

  auto start = std::chrono::steady_clock::now();
  pagoda::manifest::Repository repo = pagoda::manifest::LoadRepository(source);
  auto end = std::chrono::steady_clock::now();

  const auto* hostile = repo.FindApp("hostile");
  const auto* good = repo.FindApp("good");
  const std::string verdict = hostile != nullptr && !hostile->diagnostics.empty()
                                  ? hostile->diagnostics.front().ToString()
                                  : "(no diagnostic)";
  std::printf("case %s: file %zu bytes\n", which.c_str(), text.size());
  std::printf("load %.1f ms, peak RSS %.1f MiB (%.1f MiB before loading)\n",
              std::chrono::duration<double, std::milli>(end - start).count(),
              pagoda::Resident().peak_kib / 1024.0, before_kib / 1024.0);
  std::printf("hostile app valid: %s; good app valid: %s\n%s\n",
              hostile != nullptr && hostile->valid ? "yes" : "no",
              good != nullptr && good->valid ? "yes" : "no", verdict.c_str());
  return good != nullptr && good->valid && hostile != nullptr && !hostile->valid ? 0 : 1;
}

// A generated config repository for benchmarks: apps named `<prefix><i>`,
// each with one DeployConfig (files, env, a Secret reference, probes) and two
// Environments, `test` and `prod`, on the clusters of the same names, each
// with a public HTTP listener (an Ingress) and an internal TCP one. Every
// app renders to a Namespace and, per environment, a ConfigMap, a Deployment,
// a Service and an Ingress. In memory only: nothing here touches a disk.
#pragma once

#include <string>

#include "manifest/manifest.h"

namespace pagoda::manifest {

struct GeneratedRepoOptions {
  int apps = 1000;
  std::string prefix = "app-";  // app i is named prefix + i (and so is its namespace)
  int test_replicas = 2;
  int prod_replicas = 4;  // release batches (2) are left out when replicas is 0
};

// Adds app `i` of the generated repository to `source`.
inline void AddGeneratedApp(MemorySource& source, const GeneratedRepoOptions& options, int i) {
  const std::string n = std::to_string(i);
  const std::string app = options.prefix + n;
  const std::string dir = "apps/" + app + "/";
  source.Add(dir + "app.yaml", "apiVersion: pagoda.dev/v1\nkind: App\nmetadata:\n  name: " + app +
                                   "\nspec:\n  description: generated app " + n +
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
                 n +
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
  for (const std::string env : {"test", "prod"}) {
    const bool prod = env == "prod";
    const int replicas = prod ? options.prod_replicas : options.test_replicas;
    const std::string pause = prod ? "first" : "none";
    const std::string release =
        replicas > 0 ? "  release: {batches: 2, pause: " + pause + ", batchInterval: 30s}\n" : "";
    source.Add(dir + "envs/" + env + ".yaml",
               "apiVersion: pagoda.dev/v1\n"
               "kind: Environment\n"
               "metadata:\n  name: " +
                   env +
                   "\n"
                   "spec:\n"
                   "  cluster: " +
                   env +
                   "\n"
                   "  deployConfig: web\n"
                   "  replicas: " +
                   std::to_string(replicas) + "\n" + release +
                   "  sync: {auto: true, selfHeal: true}\n"
                   "  traffic:\n"
                   "    - {name: web, protocol: http, port: 80, targetPort: 8080, exposure: "
                   "public, host: " +
                   app + "." + env +
                   ".example.com, sessionAffinity: true}\n"
                   "    - {name: admin, protocol: tcp, port: 9000, targetPort: 8080}\n");
  }
}

// Adds every app of the generated repository to `source`.
inline void AddGeneratedApps(MemorySource& source, const GeneratedRepoOptions& options) {
  for (int i = 0; i < options.apps; ++i) AddGeneratedApp(source, options, i);
}

}  // namespace pagoda::manifest

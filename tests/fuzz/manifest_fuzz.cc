// libFuzzer target: the manifest parser. The fuzzed bytes replace one file
// of a valid app (the first byte picks which: app.yaml, a DeployConfig, an
// Environment, a plain manifest), the others stay valid, and the repository
// is loaded and, where it validates, rendered. Nothing may crash, hang or
// throw past the module boundary.
#include <cstdint>
#include <string>

#include "manifest/manifest.h"

namespace {

const char* kApp = R"(apiVersion: pagoda.dev/v1
kind: App
metadata: {name: shop}
spec: {description: The shop}
)";
const char* kDeploy = R"(apiVersion: pagoda.dev/v1
kind: DeployConfig
metadata: {name: web}
spec:
  image: registry.example.com/shop/web:1.4.2
  cpu: "0.5"
  memory: 512Mi
  env: {A: "1", DB: {secret: db, key: password}}
  files: [{path: /app/config/app.properties, content: "port=8080\n"}]
  ports: [{name: http, port: 8080}]
  health: {http: {path: /healthz, port: 8080}, period: 5s}
  shutdown: {preStopSleep: 5s, gracePeriod: 30s}
)";
const char* kEnv = R"(apiVersion: pagoda.dev/v1
kind: Environment
metadata: {name: prod}
spec:
  cluster: prod
  deployConfig: web
  replicas: 4
  release: {batches: 2, pause: first, onFailure: rollback}
  sync: {auto: true, selfHeal: true, prune: true}
  traffic:
    - {name: web, protocol: http, port: 80, targetPort: 8080, exposure: public, host: shop.example.com}
)";
const char* kManifest = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: extra}
data: {a: b}
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* paths[] = {"apps/shop/app.yaml", "apps/shop/deploy/web.yaml",
                         "apps/shop/envs/prod.yaml", "apps/shop/manifests/extra.yaml"};
  const char* contents[] = {kApp, kDeploy, kEnv, kManifest};
  const int pick = data[0] % 4;
  pagoda::manifest::MemorySource source;
  for (int i = 0; i < 4; ++i) {
    source.Add(paths[i], i == pick ? std::string(reinterpret_cast<const char*>(data + 1), size - 1)
                                   : std::string(contents[i]));
  }
  pagoda::manifest::Repository repo = pagoda::manifest::LoadRepository(source);
  for (const auto& app : repo.apps) {
    if (!app.valid) continue;
    // A refusal is an answer too; a crash, or an object that is not one, is not.
    auto rendered = pagoda::manifest::RenderApp(app.model());
    if (!rendered.ok()) continue;
    for (const auto& object : rendered->AllObjects()) {
      if (object.json.empty() || object.json.front() != '{') __builtin_trap();
    }
  }
  return 0;
}

// Checks that need more than one field: names pagoda derives, references
// between files, paths against each other, listeners across environments and
// apps. Parsing (parse.h) has checked each field's own shape already.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace pagoda::manifest {

// Checks one app's model; fills in derived values (each environment's
// release.batch_timeout_ms when not written). Diagnostics go to `out`.
void ValidateApp(const LoadOptions& options, AppModel* app, std::vector<Diagnostic>* out);

// The public listeners one app claims, for its environments and its plain
// manifests; none when the app has errors. Depends on the app alone.
std::vector<ListenerClaim> AppListenerClaims(const AppResult& app);

// What the repository's claims come to as a whole.
struct ListenerCheck {
  std::shared_ptr<const std::vector<ListenerClaim>> claims;  // every app's, in file order
  // Two claimants of one listener in one cluster: an error of the
  // repository at each claim. Neither app is made invalid: which one gives
  // way depends on the cluster.
  std::vector<Diagnostic> diagnostics;
};
// `by_app` holds each app's AppListenerClaims (null: none).
ListenerCheck CheckPublicListeners(
    const std::vector<std::shared_ptr<const std::vector<ListenerClaim>>>& by_app);

// The batch timeout when none is written: long enough for a new instance to
// become Ready by its health check, plus a margin for pulling the image.
int64_t DefaultBatchTimeoutMs(const DeployConfig* config);

}  // namespace pagoda::manifest

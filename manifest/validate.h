// Checks that need more than one field: names pagoda derives, references
// between files, paths against each other, listeners across environments and
// apps. Parsing (parse.h) has checked each field's own shape already.
#pragma once

#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace pagoda::manifest {

// Checks one app's model; fills in derived values (each environment's
// release.batch_timeout_ms when not written). Diagnostics go to `out`.
void ValidateApp(const LoadOptions& options, AppModel* app, std::vector<Diagnostic>* out);

// Gathers the public listeners the valid apps claim into
// repo->listener_claims (in file order), and reports two claimants of one
// listener in one cluster as errors of the repository, at each claim. Neither
// app is made invalid: which one gives way depends on the cluster.
void CheckPublicListeners(Repository* repo);

// The batch timeout when none is written: long enough for a new instance to
// become Ready by its health check, plus a margin for pulling the image.
int64_t DefaultBatchTimeoutMs(const DeployConfig* config);

}  // namespace pagoda::manifest

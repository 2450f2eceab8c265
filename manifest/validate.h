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

// Two environments (of any apps) may not claim the same public listener in
// one cluster. The claim of the environment that sorts first (by app, then
// environment) stands; the others get an error on their AppResult.
void CheckPublicListeners(std::vector<AppResult>* apps);

// The batch timeout when none is written: long enough for a new instance to
// become Ready by its health check, plus a margin for pulling the image.
int64_t DefaultBatchTimeoutMs(const DeployConfig* config);

}  // namespace pagoda::manifest

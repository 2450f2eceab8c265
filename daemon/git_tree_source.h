// Internal to the Git source: a manifest::FileSource over one tree.
#pragma once

#include <git2.h>

#include <memory>

#include "daemon/git_internal.h"
#include "manifest/manifest.h"

namespace pagoda::daemon::git {

// The files of `tree` (its paths relative to it), read from `repo`'s object
// database. Symlinks are listed and refused on read; submodules are skipped.
std::unique_ptr<manifest::FileSource> NewTreeSource(std::shared_ptr<Repo> repo,
                                                    const git_oid& tree);

}  // namespace pagoda::daemon::git

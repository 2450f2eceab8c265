// Internal to the Git source: a manifest::FileSource over one tree.
#pragma once

#include <git2.h>

#include <memory>

#include "manifest/manifest.h"
#include "source/git_internal.h"

namespace pagoda::source::git {

// The files of `tree` (its paths relative to it), read from `repo`'s object
// database. Symlinks are listed and refused on read; submodules are skipped.
std::unique_ptr<manifest::FileSource> NewTreeSource(std::shared_ptr<Repo> repo,
                                                    const git_oid& tree);

}  // namespace pagoda::source::git

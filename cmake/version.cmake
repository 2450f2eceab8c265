# Writes pagoda/version.h (and version.txt, which packaging reads) from the
# Git tree, at every build, touching them only when their contents change:
#   cmake -DSOURCE_DIR=... -DOUTPUT_DIR=... -DFALLBACK_VERSION=... -P version.cmake
#
# The version is the nearest tag vX.Y.Z (`git describe`): X.Y.Z on the tagged
# commit, X.Y.Z-N-gHASH N commits after it, with -dirty for a modified tree;
# in a clone without tags, the project's version as X.Y.Z-gHASH.
# The build date is the commit's date, so that one commit builds the same
# binary twice; SOURCE_DATE_EPOCH, when set, takes its place. Outside a Git
# tree (a source tarball) the version is PAGODA_VERSION from the environment,
# or else the project's own.
find_package(Git QUIET)
set(version "")
set(commit "unknown")
set(date_epoch "")
if(GIT_FOUND AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" describe --tags --match "v[0-9]*" --dirty
                  WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE described
                  RESULT_VARIABLE described_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(described_rc EQUAL 0)
    string(REGEX REPLACE "^v" "" version "${described}")
  else()
    # No tag reaches HEAD (a clone without tags): the project's version and
    # the commit, X.Y.Z-gHASH.
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty
                    WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE described
                    RESULT_VARIABLE described_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(described_rc EQUAL 0)
      set(version "${FALLBACK_VERSION}-g${described}")
    endif()
  endif()
  execute_process(COMMAND "${GIT_EXECUTABLE}" log -1 --format=%H%n%ct
                  WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE head
                  RESULT_VARIABLE head_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(head_rc EQUAL 0)
    string(REPLACE "\n" ";" head "${head}")
    list(GET head 0 commit)
    list(GET head 1 date_epoch)
  endif()
endif()
if(version STREQUAL "")
  if(DEFINED ENV{PAGODA_VERSION})
    set(version "$ENV{PAGODA_VERSION}")
  else()
    set(version "${FALLBACK_VERSION}")
  endif()
endif()
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(date_epoch "$ENV{SOURCE_DATE_EPOCH}")
endif()
if(date_epoch STREQUAL "")
  set(build_date "unknown")
else()
  set(ENV{SOURCE_DATE_EPOCH} "${date_epoch}")
  string(TIMESTAMP build_date "%Y-%m-%dT%H:%M:%SZ" UTC)
endif()

set(header "#pragma once

// What `pagoda --version` prints: written by cmake/version.cmake at build time.
namespace pagoda {
inline constexpr const char* kVersion = \"${version}\";
inline constexpr const char* kCommit = \"${commit}\";
inline constexpr const char* kBuildDate = \"${build_date}\";
}  // namespace pagoda
")
set(text "version=${version}\ncommit=${commit}\ndate=${build_date}\nepoch=${date_epoch}\n")
foreach(pair "pagoda/version.h|header" "version.txt|text")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 var)
  set(path "${OUTPUT_DIR}/${name}")
  set(old "")
  if(EXISTS "${path}")
    file(READ "${path}" old)
  endif()
  if(NOT old STREQUAL "${${var}}")
    file(WRITE "${path}" "${${var}}")
  endif()
endforeach()

// The Pod Security Standards for the plain manifests an app keeps in
// manifests/: whoever may commit to the config repository must not be able to
// run a privileged pod through pagoda. The checks run on the YAML tree before
// any API call, so each violation names its file, line, column and field.
//
// The controls are those of the Baseline level as Kubernetes 1.37's
// pod-security-admission enforces them (kubernetes.io/docs/concepts/security/
// pod-security-standards), nowhere looser, read fail-closed: a value that
// cannot be read as the type Kubernetes expects there is a violation, not an
// absent field. Only absent fields, null, and the allowed values pass. Keys
// match exactly, as the API server decodes JSON case-sensitively.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/yaml.h"
#include "manifest/manifest.h"
#include "manifest/parse.h"

namespace pagoda::manifest {

// Checks every pod spec that plain manifest `doc` holds against `level` and
// reports each violation as an error on `sink` at the offending node, with the
// field path from the document root, e.g.
// "spec.template.spec.containers[0].securityContext.privileged".
// `group` is the API group ("" for core, "apps", "batch"), `kind` the kind;
// kinds that hold no pod spec are not checked, nor is a `doc` that is not a
// mapping (ParseManifest reports that). kPrivileged checks nothing.
//
// Where a node on the way to a checked field has the wrong type (a string
// where a mapping goes), that node is the violation, of every control whose
// fields lie beneath it. The message reads
//   <what> is not allowed at Pod Security level "baseline" (<control>); the
//   daemon config's podSecurity can grant app <app> "privileged"
// where <what> is the value as written (`true`, `"SYS_ADMIN"`, `a mapping`) or
// names it (`a hostPath volume`).
void CheckPodSecurity(const YamlNode& doc, std::string_view group, std::string_view kind,
                      std::string_view app, PodSecurityLevel level, Sink& sink);

// A service account a pod spec in `doc` runs as: spec.serviceAccountName or the
// deprecated spec.serviceAccount (the API server still honours it), wherever
// the kind keeps its pod spec.
// Every non-null serviceAccountName and serviceAccount of the pod spec, in
// document order; none for kinds without a pod spec or when the way to it is
// not made of mappings. `name` is the value as written: a string's text, a
// scalar of another type as its text (the API server refuses those), a
// collection as "a mapping" or "a list" (which no ServiceAccount is named).
std::vector<ServiceAccountUse> ServiceAccountsUsed(const YamlNode& doc, std::string_view group,
                                                   std::string_view kind);

}  // namespace pagoda::manifest

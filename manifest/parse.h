// From YAML trees to the model: one function per document kind. They report
// shape problems (unknown fields, wrong types, missing fields, values that do
// not parse) and leave checks that need more than one field to validate.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/yaml.h"
#include "manifest/manifest.h"
#include "policy/freeze.h"

namespace pagoda::manifest {

// Collects the diagnostics of one file.
class Sink {
 public:
  Sink(std::string file, std::vector<Diagnostic>* out) : file_(std::move(file)), out_(out) {}
  const std::string& file() const { return file_; }
  void Error(Pos pos, std::string field, std::string message) {
    Add(Severity::kError, pos, std::move(field), std::move(message));
  }
  void Warning(Pos pos, std::string field, std::string message) {
    Add(Severity::kWarning, pos, std::move(field), std::move(message));
  }
  int errors() const { return errors_; }

 private:
  void Add(Severity severity, Pos pos, std::string field, std::string message) {
    if (severity == Severity::kError) ++errors_;
    out_->push_back({severity, file_, pos.line, pos.column, std::move(field), std::move(message)});
  }
  std::string file_;
  std::vector<Diagnostic>* out_;
  int errors_ = 0;
};

// The envelope every pagoda document has: apiVersion pagoda.dev/v1, `kind`,
// metadata.name (checked by `check_name`); returns its spec, or nullptr
// when it has none (an error when `spec_required`).
const YamlNode* ReadEnvelope(const YamlNode& doc, Sink& sink, std::string_view kind,
                             bool spec_required, Located<std::string>* name,
                             std::string (*check_name)(std::string_view));

// Each returns false when the document had errors (the model is then partial).
// `kind` of the document must be the one the directory holds.
bool ParseApp(const YamlNode& doc, Sink& sink, App* out);
bool ParseDeployConfig(const YamlNode& doc, Sink& sink, DeployConfig* out);
bool ParseEnvironment(const YamlNode& doc, Sink& sink, Environment* out);
// Plain manifests: apiVersion, kind and metadata.name are read; the rest is
// kept as written. Pods they define are checked against `level`; the
// service accounts they run as are kept for validation, which has the app's
// other manifests.
bool ParseManifest(const YamlNode& doc, std::string_view app, PodSecurityLevel level, Sink& sink,
                   PlainManifest* out);

// The repository's freeze windows (policy/freeze.yaml, kind Freeze).
bool ParseFreeze(const YamlNode& doc, Sink& sink, policy::FreezePolicy* out);

// The closest of `candidates` to `word` within a small edit distance, or "".
std::string Suggest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace pagoda::manifest

// The model's own methods: how a diagnostic prints and sorts, lookups in a
// repository and an app, and the names the platform reserves. Nothing here
// reads a file (load.cc does).
#include <fnmatch.h>

#include <algorithm>
#include <tuple>

#include "manifest/manifest.h"

namespace pagoda::manifest {

const AppModel& AppResult::model() const {
  static const AppModel kNone;
  return shared_model ? *shared_model : kNone;
}

// Control characters as \xNN: a file name or a value from the repository
// must never start a line of its own in what pagoda prints (a forged diagnostic).
std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
      continue;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return Printable(out);
}

std::strong_ordering operator<=>(const Diagnostic& a, const Diagnostic& b) {
  return std::tie(a.file, a.line, a.column, a.field, a.message, a.severity) <=>
         std::tie(b.file, b.line, b.column, b.field, b.message, b.severity);
}

PodSecurityLevel PodSecurityPolicy::For(std::string_view app) const {
  auto it = apps.find(app);
  return it != apps.end() ? it->second : default_level;
}

std::string ReservedNamespacePattern(std::string_view name, const std::vector<std::string>& extra) {
  const std::string n(name);
  for (const char* pattern : kReservedNamespaces) {
    if (::fnmatch(pattern, n.c_str(), 0) == 0) return pattern;
  }
  for (const std::string& pattern : extra) {
    if (::fnmatch(pattern.c_str(), n.c_str(), 0) == 0) return pattern;
  }
  return "";
}

bool HasErrors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

const DeployConfig* AppModel::FindDeployConfig(std::string_view config) const {
  for (const DeployConfig& c : deploy_configs) {
    if (c.name.value == config) return &c;
  }
  return nullptr;
}

const std::vector<ListenerClaim>& Repository::ListenerClaims() const {
  static const std::vector<ListenerClaim> kNone;
  return listener_claims != nullptr ? *listener_claims : kNone;
}

const AppResult* Repository::FindApp(std::string_view app) const {
  auto it = std::lower_bound(apps.begin(), apps.end(), app,
                             [](const AppResult& a, std::string_view n) { return a.name < n; });
  return it != apps.end() && it->name == app ? &*it : nullptr;
}

std::vector<Diagnostic> Repository::AllDiagnostics() const {
  std::vector<Diagnostic> all = diagnostics;
  for (const AppResult& app : apps)
    all.insert(all.end(), app.diagnostics.begin(), app.diagnostics.end());
  std::sort(all.begin(), all.end());
  return all;
}

bool Repository::ok() const {
  if (HasErrors(diagnostics)) return false;
  return std::all_of(apps.begin(), apps.end(), [](const AppResult& a) { return a.valid; });
}

}  // namespace pagoda::manifest

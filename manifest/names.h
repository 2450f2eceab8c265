// Names and paths as Kubernetes judges them. Each check returns "" when the
// value is valid, or a message that says what would be valid.
#pragma once

#include <string>
#include <string_view>

namespace pagoda::manifest {

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63: namespaces, most object names.
std::string CheckDns1123Label(std::string_view name);
// [a-z]([-a-z0-9]*[a-z0-9])?, at most 63: Service names.
std::string CheckDns1035Label(std::string_view name);
// Dot-separated DNS-1123 labels, at most 253: Secret, ConfigMap and most object names.
std::string CheckDns1123Subdomain(std::string_view name);
// An Ingress host: a DNS-1123 subdomain, optionally starting with "*.".
std::string CheckHost(std::string_view host);
// [-._a-zA-Z0-9]+, at most 253, not "." or "..".
std::string CheckConfigMapKey(std::string_view key);
// [-._a-zA-Z][-._a-zA-Z0-9]*.
std::string CheckEnvVarName(std::string_view name);
// Empty, or ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63.
std::string CheckLabelValue(std::string_view value);
// A container port name (IANA_SVC_NAME): at most 15 of [-a-z0-9], a letter
// among them, no leading, trailing or double hyphen.
std::string CheckPortName(std::string_view name);
// An absolute, normalised POSIX path: starts with '/', no empty, "." or ".."
// segments, no trailing '/', not "/" itself.
std::string CheckAbsolutePath(std::string_view path);

// True when `path` is `dir` or lies under it (both normalised absolute paths).
bool PathIsAtOrUnder(std::string_view path, std::string_view dir);

}  // namespace pagoda::manifest

#include "manifest/names.h"

namespace pagoda::manifest {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return IsLower(c) || (c >= 'A' && c <= 'Z'); }
bool IsLowerAlnum(char c) { return IsLower(c) || IsDigit(c); }

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string LabelShape(std::string_view name, bool letter_first, const char* what) {
  const std::string shape =
      letter_first
          ? "lowercase letters, digits and '-', starting with a letter and ending with "
            "a letter or digit"
          : "lowercase letters, digits and '-', starting and ending with a letter or digit";
  if (name.empty()) return std::string(what) + " must not be empty";
  if (name.size() > 63) {
    return Quote(name) + " is " + std::to_string(name.size()) + " characters; " + what +
           " may have at most 63";
  }
  bool ok = letter_first ? IsLower(name.front()) : IsLowerAlnum(name.front());
  ok = ok && IsLowerAlnum(name.back());
  for (char c : name) ok = ok && (IsLowerAlnum(c) || c == '-');
  if (!ok) return Quote(name) + " is not a valid " + what + ": use " + shape;
  return "";
}

}  // namespace

std::string CheckDns1123Label(std::string_view name) { return LabelShape(name, false, "name"); }

std::string CheckDns1035Label(std::string_view name) { return LabelShape(name, true, "name"); }

std::string CheckDns1123Subdomain(std::string_view name) {
  if (name.empty()) return "the name must not be empty";
  if (name.size() > 253) {
    return Quote(name) + " is " + std::to_string(name.size()) + " characters; at most 253";
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    std::string_view part =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool ok = !part.empty() && IsLowerAlnum(part.front()) && IsLowerAlnum(part.back());
    for (char c : part) ok = ok && (IsLowerAlnum(c) || c == '-');
    if (!ok) {
      return Quote(name) +
             " is not a valid name: use lowercase letters, digits, '-' and '.', starting and "
             "ending with a letter or digit";
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

std::string CheckHost(std::string_view host) {
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  std::string msg = CheckDns1123Subdomain(rest);
  if (!msg.empty()) {
    return Quote(host) + " is not a valid host: use a DNS name such as shop.example.com, " +
           "optionally starting with \"*.\"";
  }
  return "";
}

std::string CheckConfigMapKey(std::string_view key) {
  if (key.empty()) return "the key must not be empty";
  if (key.size() > 253) {
    return Quote(key) + " is " + std::to_string(key.size()) +
           " characters; a ConfigMap key may have at most 253";
  }
  if (key == "." || key == "..") return Quote(key) + " is not a valid ConfigMap key";
  for (char c : key) {
    if (!(IsAlpha(c) || IsDigit(c) || c == '-' || c == '_' || c == '.')) {
      return Quote(key) + " is not a valid ConfigMap key: use letters, digits, '-', '_' and '.'";
    }
  }
  return "";
}

std::string CheckEnvVarName(std::string_view name) {
  bool ok = !name.empty() && !IsDigit(name.front());
  for (char c : name) ok = ok && (IsAlpha(c) || IsDigit(c) || c == '-' || c == '_' || c == '.');
  if (!ok) {
    return Quote(name) +
           " is not a valid environment variable name: use letters, digits, '_', '-' and '.', "
           "not starting with a digit";
  }
  return "";
}

std::string CheckLabelValue(std::string_view value) {
  if (value.empty()) return "";
  if (value.size() > 63) {
    return Quote(value) + " is " + std::to_string(value.size()) +
           " characters; a label value may have at most 63";
  }
  auto alnum = [](char c) { return IsAlpha(c) || IsDigit(c); };
  bool ok = alnum(value.front()) && alnum(value.back());
  for (char c : value) ok = ok && (alnum(c) || c == '-' || c == '_' || c == '.');
  if (!ok) {
    return Quote(value) +
           " is not a valid label value: use letters, digits, '-', '_' and '.', starting and "
           "ending with a letter or digit";
  }
  return "";
}

std::string CheckPortName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 15 && name.front() != '-' && name.back() != '-' &&
            name.find("--") == std::string_view::npos;
  bool letter = false;
  for (char c : name) {
    ok = ok && (IsLowerAlnum(c) || c == '-');
    letter = letter || IsLower(c);
  }
  if (!ok || !letter) {
    return Quote(name) +
           " is not a valid port name: at most 15 lowercase letters, digits and '-', with at "
           "least one letter, no leading, trailing or double '-'";
  }
  return "";
}

std::string CheckAbsolutePath(std::string_view path) {
  if (path.empty() || path.front() != '/') return Quote(path) + " is not an absolute path";
  if (path == "/") return "\"/\" is not allowed here: name a file or directory";
  if (path.back() == '/') return Quote(path) + " ends with '/'; write it without";
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return Quote(path) + " has an empty segment (\"//\")";
    if (part == "..") return Quote(path) + " contains \"..\"";
    if (part == ".") return Quote(path) + " is not normalised: it contains \".\"";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20) return Quote(path) + " contains a control character";
  }
  return "";
}

bool PathIsAtOrUnder(std::string_view path, std::string_view dir) {
  if (path == dir) return true;
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

}  // namespace pagoda::manifest

#include "base/url.h"

#include <cctype>

namespace pagoda {

std::string RedactUrl(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);  // path or user@host:path
  std::string_view scheme = url.substr(0, scheme_end);
  size_t authority = scheme_end + 3;
  size_t path = url.find('/', authority);
  std::string_view host_part = url.substr(
      authority, path == std::string_view::npos ? std::string_view::npos : path - authority);
  size_t at = host_part.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string_view userinfo = host_part.substr(0, at);
  std::string out(url.substr(0, authority));
  if (scheme.starts_with("ssh") || scheme.ends_with("ssh")) {
    // The login is not a secret; a password after it is.
    out += userinfo.substr(0, userinfo.find(':'));
    out += '@';
  }
  out += url.substr(authority + at + 1);
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace pagoda

// The remote side of the Git source: URLs, credentials, host keys, and the
// conversion of a failed remote operation into a Status of the right code.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/base64.h"
#include "base/file.h"
#include "base/url.h"
#include "source/git_internal.h"

namespace pagoda::source {

namespace git {
namespace {

bool IsSshScheme(std::string_view scheme) {
  return scheme == "ssh" || scheme == "ssh+git" || scheme == "git+ssh";
}

// "host", "[::1]" or "host:port" / "[::1]:port" → host and port.
SshHost SplitHostPort(std::string_view hostport) {
  SshHost out;
  if (hostport.starts_with('[')) {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return out;
    out.host = std::string(hostport.substr(1, close - 1));
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') {
      out.port = std::atoi(std::string(hostport.substr(close + 2)).c_str());
    }
    return out;
  }
  size_t colon = hostport.rfind(':');
  out.host = std::string(hostport.substr(0, colon));
  if (colon != std::string_view::npos) {
    out.port = std::atoi(std::string(hostport.substr(colon + 1)).c_str());
  }
  return out;
}

// The name under which known_hosts lists the host: "host", or "[host]:port"
// for another port than 22.
std::string KnownHostsName(const SshHost& host) {
  if (host.port == 22) return host.host;
  return "[" + host.host + "]:" + std::to_string(host.port);
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// OpenSSH's host patterns: `*` any run, `?` one character; everything else
// (the brackets of "[host]:port" too) literal.
bool Glob(std::string_view pattern, std::string_view name) {
  if (pattern.empty()) return name.empty();
  if (pattern.front() == '*') {
    for (size_t i = 0; i <= name.size(); ++i) {
      if (Glob(pattern.substr(1), name.substr(i))) return true;
    }
    return false;
  }
  if (name.empty()) return false;
  if (pattern.front() != '?' && pattern.front() != name.front()) return false;
  return Glob(pattern.substr(1), name.substr(1));
}

// "|1|salt|hash": HMAC-SHA1 of the name keyed with the salt.
bool HashedMatch(std::string_view pattern, const std::string& name) {
  std::string_view rest = pattern.substr(3);
  size_t bar = rest.find('|');
  if (bar == std::string_view::npos) return false;
  Result<std::string> salt = Base64Decode(rest.substr(0, bar));
  Result<std::string> hash = Base64Decode(rest.substr(bar + 1));
  if (!salt.ok() || !hash.ok()) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()),
           reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest,
           &length) == nullptr) {
    return false;
  }
  return std::string(reinterpret_cast<const char*>(digest), length) == *hash;
}

// A comma-separated list of patterns (with * and ?, and !negations) or one
// hashed name. A negated match excludes the host whatever else matches.
bool HostMatches(std::string_view patterns, const std::string& name) {
  if (patterns.starts_with("|1|")) return HashedMatch(patterns, name);
  bool matched = false;
  size_t start = 0;
  while (start <= patterns.size()) {
    size_t comma = patterns.find(',', start);
    std::string pattern(patterns.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    bool negated = pattern.starts_with('!');
    if (negated) pattern.erase(0, 1);
    if (!pattern.empty() && Glob(Lower(pattern), name)) {
      if (negated) return false;
      matched = true;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return matched;
}

// The key type named inside an SSH wire-format key ("ssh-ed25519").
std::string KeyType(std::string_view key) {
  if (key.size() < 4) return "";
  uint32_t n = (static_cast<uint32_t>(static_cast<unsigned char>(key[0])) << 24) |
               (static_cast<uint32_t>(static_cast<unsigned char>(key[1])) << 16) |
               (static_cast<uint32_t>(static_cast<unsigned char>(key[2])) << 8) |
               static_cast<uint32_t>(static_cast<unsigned char>(key[3]));
  if (n > key.size() - 4) return "";
  return std::string(key.substr(4, n));
}

std::string Scrub(std::string message, const RemoteSession& session) {
  auto replace_all = [&message](const std::string& from, const std::string& to) {
    if (from.empty() || from == to) return;
    for (size_t at = message.find(from); at != std::string::npos;
         at = message.find(from, at + to.size())) {
      message.replace(at, from.size(), to);
    }
  };
  replace_all(session.url, RedactUrl(session.url));
  replace_all(session.secret, "<redacted>");
  return message;
}

void Refuse(RemoteSession* session, Status status) {
  git_error_set_str(GIT_ERROR_CALLBACK, status.message().c_str());
  session->refusal = std::move(status);
}

int Credentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                unsigned int allowed, void* payload) {
  auto* session = static_cast<RemoteSession*>(payload);
  const GitAuth& auth = *session->auth;
  std::string user = !auth.username.empty() ? auth.username
                     : (username_from_url != nullptr && *username_from_url != '\0')
                         ? std::string(username_from_url)
                         : std::string("git");
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0 && !auth.ssh_key_file.empty()) {
    if (++session->secret_attempts > 1) {
      Refuse(session, Status::Unauthenticated("the server refused the key " + auth.ssh_key_file +
                                              " for user " + user));
      return GIT_EUSER;
    }
    return git_credential_ssh_key_new(out, user.c_str(), nullptr, auth.ssh_key_file.c_str(),
                                      nullptr);
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && !session->secret.empty()) {
    if (++session->secret_attempts > 1) {
      Refuse(session,
             Status::Unauthenticated("the server refused the credentials of user " + user));
      return GIT_EUSER;
    }
    return git_credential_userpass_plaintext_new(out, user.c_str(), session->secret.c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) {
    return git_credential_username_new(out, user.c_str());
  }
  Refuse(session,
         Status::Unauthenticated("the server asks for credentials and none are configured for it"));
  return GIT_EUSER;
}

int CertificateCheck(git_cert* cert, int /*valid*/, const char* /*host*/, void* payload) {
  // TLS certificates: libgit2's own verification against the system's CAs.
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;
  auto* session = static_cast<RemoteSession*>(payload);
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  if ((hostkey->type & GIT_CERT_SSH_RAW) == 0 || hostkey->hostkey == nullptr) {
    Refuse(session, Status::Unauthenticated("the ssh library did not show the host key"));
    return GIT_EUSER;
  }
  std::string key(hostkey->hostkey, hostkey->hostkey_len);
  const std::string name = KnownHostsName(session->ssh);
  std::string known;
  const GitAuth& auth = *session->auth;
  if (!auth.known_hosts_file.empty()) {
    Result<std::string> content = pagoda::ReadFile(auth.known_hosts_file, 16u << 20);
    if (!content.ok()) {
      Refuse(session, Status::Unauthenticated("known_hosts: " + content.status().message()));
      return GIT_EUSER;
    }
    known = *content + "\n";
  }
  if (Result<std::string> learned = pagoda::ReadFile(session->learned_hosts, 16u << 20);
      learned.ok()) {
    known += *learned;
  }
  Status check = CheckHostKey(known, session->ssh, key);
  if (check.ok()) return 0;
  if (check.code() == Status::Code::kNotFound && auth.accept_unknown_hosts) {
    std::ofstream out(session->learned_hosts, std::ios::app);
    out << name << ' ' << KeyType(key) << ' ' << Base64Encode(key) << '\n';
    out.flush();
    if (!out) {
      Refuse(session, Status::IOError("cannot remember the host key of " + name + " in " +
                                      session->learned_hosts));
      return GIT_EUSER;
    }
    return 0;
  }
  if (check.code() == Status::Code::kNotFound) {
    check =
        Status::Unauthenticated("host " + name + " is not in known_hosts" +
                                (auth.known_hosts_file.empty() ? std::string(" (none configured)")
                                                               : " " + auth.known_hosts_file) +
                                "; add its " + KeyType(key) + " key, or allow unknown hosts");
  }
  Refuse(session, check);
  return GIT_EUSER;
}

}  // namespace

SshHost ParseSshHost(std::string_view url) {
  size_t scheme_end = url.find("://");
  std::string_view hostport;
  if (scheme_end != std::string_view::npos) {
    if (!IsSshScheme(url.substr(0, scheme_end))) return {};
    std::string_view rest = url.substr(scheme_end + 3);
    hostport = rest.substr(0, rest.find('/'));
    size_t at = hostport.rfind('@');
    if (at != std::string_view::npos) hostport = hostport.substr(at + 1);
    return SplitHostPort(hostport);
  }
  // scp-like: a ':' before any '/' (git's rule), host without a port.
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon)) {
    return {};
  }
  std::string_view host = url.substr(0, colon);
  if (host.starts_with('[')) {
    size_t close = url.find(']');
    if (close == std::string_view::npos) return {};
    host = url.substr(1, close - 1);
  }
  size_t at = host.rfind('@');
  if (at != std::string_view::npos) host = host.substr(at + 1);
  SshHost out;
  out.host = std::string(host);
  return out;
}

Status CheckHostKey(std::string_view known_hosts, const SshHost& host, std::string_view key) {
  const std::string name = Lower(KnownHostsName(host));
  bool listed = false;
  std::istringstream lines{std::string(known_hosts)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string first, patterns, type, blob;
    if (!(fields >> first) || first.starts_with('#')) continue;
    std::string marker;
    if (first.starts_with('@')) {
      marker = first;
      if (!(fields >> patterns)) continue;
    } else {
      patterns = first;
    }
    if (!(fields >> type >> blob)) continue;
    if (marker == "@cert-authority" || !HostMatches(patterns, name)) continue;
    Result<std::string> decoded = Base64Decode(blob);
    if (!decoded.ok()) continue;
    bool same = *decoded == key;
    if (marker == "@revoked") {
      if (same) return Status::Unauthenticated("the host key of " + name + " is revoked");
      continue;
    }
    listed = true;
    if (same) return Status::Ok();
  }
  if (listed) {
    return Status::Unauthenticated("HOST KEY MISMATCH for " + name + ": its " + KeyType(key) +
                                   " key is not one known_hosts lists for it; refusing");
  }
  return Status::NotFound(name + " is not in known_hosts");
}

void SetCallbacks(RemoteSession* session, git_remote_callbacks* callbacks) {
  callbacks->credentials = Credentials;
  callbacks->certificate_check = CertificateCheck;
  callbacks->payload = session;
}

Status RemoteError(const RemoteSession& session, int rc, std::string_view what) {
  std::string prefix = std::string(what) + " " + RedactUrl(session.url) + ": ";
  if (!session.refusal.ok())
    return session.refusal.WithContext(prefix.substr(0, prefix.size() - 2));
  const git_error* error = git_error_last();
  std::string message =
      Scrub(error != nullptr && error->message != nullptr ? error->message
                                                          : "libgit2 error " + std::to_string(rc),
            session);
  int klass = error != nullptr ? error->klass : GIT_ERROR_NONE;
  if (rc == GIT_EAUTH || rc == GIT_ECERTIFICATE ||
      message.find("status code: 401") != std::string::npos ||
      message.find("status code: 403") != std::string::npos ||
      message.find("authentication") != std::string::npos) {
    return Status::Unauthenticated(prefix + message);
  }
  if (rc == GIT_ENOTFOUND || message.find("status code: 404") != std::string::npos) {
    return Status::NotFound(prefix + message);
  }
  switch (klass) {
    case GIT_ERROR_FILESYSTEM:
    case GIT_ERROR_ODB:
      return Status::IOError(prefix + message);
    default:
      // Network, ssh, http, TLS, and whatever the remote said: worth a retry.
      return Status::Unavailable(prefix + message);
  }
}

}  // namespace git
}  // namespace pagoda::source

// The remote side of the Git source: URLs, credentials, host keys, and the
// conversion of a failed remote operation into a Status of the right code.
#include <libssh2.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

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

// A comma-separated list of plain patterns (with * and ?, and !negations).
// A negated match excludes the host whatever else matches.
bool HostMatches(std::string_view patterns, const std::string& name) {
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

// libssh2's type of a host key, from libgit2's name for it; 0 (any type) for
// a type libssh2 has no name for, whose key is then compared as it is.
int KeyTypeMask(git_cert_ssh_raw_type_t type) {
  switch (type) {
    case GIT_CERT_SSH_RAW_TYPE_RSA:
      return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case GIT_CERT_SSH_RAW_TYPE_DSS:
      return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
      return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default:
      return 0;
  }
}

// A collection of known hosts in libssh2. libssh2 allocates it through a
// session, which is never connected: the session only lends its allocator.
class KnownHosts {
 public:
  KnownHosts() : session_(libssh2_session_init()) {
    if (session_ != nullptr) hosts_ = libssh2_knownhost_init(session_);
  }
  KnownHosts(const KnownHosts&) = delete;
  KnownHosts& operator=(const KnownHosts&) = delete;
  ~KnownHosts() {
    if (hosts_ != nullptr) libssh2_knownhost_free(hosts_);
    if (session_ != nullptr) libssh2_session_free(session_);
  }

  bool ok() const { return hosts_ != nullptr; }

  // Adds one line of OpenSSH's format; false for a line libssh2 cannot
  // read. It is skipped, as ssh skips it, and named if the host is not found.
  bool Add(const std::string& line) {
    return libssh2_knownhost_readline(hosts_, line.data(), line.size(),
                                      LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0;
  }

  // libssh2's answer (LIBSSH2_KNOWNHOST_CHECK_*) for `key`, raw, of the type
  // `key_type_mask` (0: any) shown by `name`, the name known_hosts uses.
  // No port is passed: given one, libssh2 falls back from "[host]:port" to
  // the plain host's entries, which ssh never does for another port than 22.
  int Check(const std::string& name, std::string_view key, int key_type_mask) const {
    return libssh2_knownhost_checkp(
        hosts_, name.c_str(), -1, key.data(), key.size(),
        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key_type_mask, nullptr);
  }

 private:
  LIBSSH2_SESSION* session_ = nullptr;
  LIBSSH2_KNOWNHOSTS* hosts_ = nullptr;
};

// The next field of `rest`, split on spaces and tabs; `rest` moves past it.
std::string_view NextField(std::string_view* rest) {
  size_t start = rest->find_first_not_of(" \t");
  if (start == std::string_view::npos) start = rest->size();
  size_t end = rest->find_first_of(" \t", start);
  if (end == std::string_view::npos) end = rest->size();
  std::string_view field = rest->substr(start, end - start);
  rest->remove_prefix(end);
  return field;
}

// One known_hosts line made ready for libssh2's reader.
struct KnownHostsLine {
  bool revoked = false;  // a @revoked line, for a collection of its own
  std::string text;
};

// Prepares `line` for the lookup of `name` (lower case), or nullopt when it
// cannot apply to it. libssh2 (1.10) reads OpenSSH's format but compares
// plain names with strcmp, knows no patterns, reads a marker as a host name,
// keeps a trailing CR in the key, and reads a host field of fewer than three
// characters as a hashed name; what it leaves out is done here. Hashed names
// are left to libssh2.
std::optional<KnownHostsLine> PrepareLine(std::string_view line, const std::string& name) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  KnownHostsLine out;
  std::string_view rest = line;
  std::string_view hosts = NextField(&rest);
  if (hosts.empty() || hosts.starts_with('#')) return std::nullopt;
  if (hosts.starts_with('@')) {
    // @cert-authority vouches for host certificates, which libssh2 never negotiates.
    if (hosts != "@revoked") return std::nullopt;
    out.revoked = true;
    hosts = NextField(&rest);
    if (hosts.empty()) return std::nullopt;
  }
  std::string field(hosts);
  if (!hosts.starts_with("|1|")) {
    if (hosts.find_first_of("*?!") != std::string_view::npos) {
      if (!HostMatches(hosts, name)) return std::nullopt;
      field = name;
    }
    field = Lower(field);
    if (field.size() < 3) field += "," + field;  // a list, which libssh2 reads as plain names
  }
  out.text = field + std::string(rest);
  return out;
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

// The known_hosts content for `session`: the configured file, then the keys
// learned on first use for its clone. `files` names them for messages.
struct KnownHostsText {
  std::string content;
  std::string files;
};
Result<KnownHostsText> ReadKnownHosts(const RemoteSession& session) {
  KnownHostsText out;
  const std::string& configured = session.auth->known_hosts_file;
  out.files = configured.empty() ? "known_hosts (none configured)" : "known_hosts " + configured;
  if (!configured.empty()) {
    Result<std::string> content = pagoda::ReadFile(configured, 16u << 20);
    if (!content.ok()) return Status::Unauthenticated("known_hosts: " + content.status().message());
    out.content = *content + "\n";
  }
  if (Result<std::string> learned = pagoda::ReadFile(session.learned_hosts, 16u << 20);
      learned.ok()) {
    out.content += *learned;
    out.files += " and " + session.learned_hosts;
  }
  return out;
}

// Trusts `key` of a host that known_hosts does not list, from now on.
Status Remember(const RemoteSession& session, const std::string& key) {
  const std::string name = KnownHostsName(session.ssh);
  std::ofstream out(session.learned_hosts, std::ios::app);
  out << name << ' ' << KeyType(key) << ' ' << Base64Encode(key) << '\n';
  out.flush();
  if (!out) {
    return Status::IOError("cannot remember the host key of " + name + " in " +
                           session.learned_hosts);
  }
  return Status::Ok();
}

Status UnknownHost(const RemoteSession& session, const std::string& key) {
  const std::string& file = session.auth->known_hosts_file;
  return Status::Unauthenticated("host " + KnownHostsName(session.ssh) + " is not in known_hosts" +
                                 (file.empty() ? std::string(" (none configured)") : " " + file) +
                                 "; add its " + KeyType(key) + " key, or allow unknown hosts");
}

// The ssh host key against known_hosts; TLS certificates are left to
// libgit2's own verification against the system's CAs.
int CertificateCheck(git_cert* cert, int /*valid*/, const char* /*host*/, void* payload) {
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;
  auto* session = static_cast<RemoteSession*>(payload);
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  if ((hostkey->type & GIT_CERT_SSH_RAW) == 0 || hostkey->hostkey == nullptr) {
    Refuse(session, Status::Unauthenticated("the ssh library did not show the host key"));
    return GIT_EUSER;
  }
  std::string key(hostkey->hostkey, hostkey->hostkey_len);
  Result<KnownHostsText> known = ReadKnownHosts(*session);
  if (!known.ok()) {
    Refuse(session, known.status());
    return GIT_EUSER;
  }
  Status check = CheckHostKey(known->content, session->ssh, key, hostkey->raw_type);
  if (check.code() == Status::Code::kNotFound) {
    check =
        session->auth->accept_unknown_hosts ? Remember(*session, key) : UnknownHost(*session, key);
  } else if (!check.ok()) {
    check = check.WithContext(known->files);
  }
  if (check.ok()) return 0;
  Refuse(session, std::move(check));
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

Status CheckHostKey(std::string_view known_hosts, const SshHost& host, std::string_view key,
                    git_cert_ssh_raw_type_t type) {
  InitOnce();  // libgit2 initialises libssh2 for the process
  const std::string name = Lower(KnownHostsName(host));
  KnownHosts known, revoked;
  if (!known.ok() || !revoked.ok()) {
    return Status::Internal("libssh2 cannot make a collection of known hosts");
  }
  std::istringstream lines{std::string(known_hosts)};
  int unreadable = 0;  // lines that could name the host, which libssh2 cannot read
  for (std::string line; std::getline(lines, line);) {
    std::optional<KnownHostsLine> prepared = PrepareLine(line, name);
    if (!prepared.has_value()) continue;
    if (!(prepared->revoked ? revoked : known).Add(prepared->text)) ++unreadable;
  }
  if (revoked.Check(name, key, 0) == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
    return Status::Unauthenticated("the host key of " + name + " is revoked");
  }
  const int mask = KeyTypeMask(type);
  int answer = known.Check(name, key, mask);
  // libssh2 does not count keys of other types; a host listed with those
  // only has changed keys, not an unknown host to trust on first use.
  if (answer == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND && mask != 0) answer = known.Check(name, key, 0);
  switch (answer) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
      return Status::Ok();
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
      return Status::Unauthenticated("HOST KEY MISMATCH for " + name + ": its " + KeyType(key) +
                                     " key is not one known_hosts lists for it; refusing");
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
      return Status::NotFound(name + " is not in known_hosts" +
                              (unreadable == 0
                                   ? ""
                                   : " (" + std::to_string(unreadable) +
                                         (unreadable == 1 ? " line" : " lines") +
                                         " that could name it cannot be read: a mangled key?)"));
    default:
      return Status::Internal("libssh2 could not check the host key of " + name);
  }
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

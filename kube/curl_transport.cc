#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "kube/http.h"

namespace pagoda::kube {
namespace {

// libcurl's global state is initialised once per process, before any thread
// can create a handle.
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

size_t AppendHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * nmemb);
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (after 100-continue or a redirect)
    return size * nmemb;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * nmemb;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  // A header sent more than once (Warning, for one) keeps each value, one per
  // line: a header value never holds a newline itself.
  std::string& slot = (*headers)[name];
  if (!slot.empty()) slot += '\n';
  slot += value;
  return size * nmemb;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// What a streamed request's callbacks need.
struct StreamState {
  const std::function<bool(std::string_view)>* on_data = nullptr;
  CURL* handle = nullptr;
  std::string error_body;  // the body of a non-2xx answer
  bool stopped = false;    // the caller ended it
};

bool Success(CURL* h) {
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  return code >= 200 && code < 300;
}

size_t StreamBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* state = static_cast<StreamState*>(user);
  const size_t n = size * nmemb;
  if (!Success(state->handle)) {
    if (state->error_body.size() < (1 << 20)) state->error_body.append(data, n);
    return n;
  }
  if (n == 0 || (*state->on_data)(std::string_view(data, n))) return n;
  state->stopped = true;
  return 0;  // anything but `n` ends the transfer
}

int StreamIdle(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* state = static_cast<StreamState*>(user);
  if ((*state->on_data)(std::string_view())) return 0;
  state->stopped = true;
  return 1;
}

struct HandleDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(TlsConfig tls) : tls_(std::move(tls)), handle_(curl_easy_init()) {}
  ~CurlTransport() override {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  bool valid() const { return handle_ != nullptr; }

  Result<HttpResponse> Do(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    CURL* h = handle_;
    curl_easy_reset(h);  // keeps the connection cache; clears per-request options
    Options options;
    HttpResponse response;
    Configure(h, request, &options, &response);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) return Failure(request, rc);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

  // On a handle of its own: a stream holds its connection for minutes.
  Result<HttpResponse> Stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& on_data) override {
    std::unique_ptr<CURL, HandleDeleter> handle(curl_easy_init());
    if (!handle) return Status::Internal("curl_easy_init failed");
    CURL* h = handle.get();
    Options options;
    HttpResponse response;
    Configure(h, request, &options, &response);
    StreamState state{&on_data, h};
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, nullptr);  // events as they come
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, StreamBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &state);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, StreamIdle);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &state);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    if (rc != CURLE_OK && !state.stopped) return Failure(request, rc);
    response.body = std::move(state.error_body);
    return response;
  }

 private:
  // What must outlive a request's perform.
  struct Options {
    std::string url;
    std::unique_ptr<curl_slist, SlistDeleter> connect_to, headers;
    curl_blob ca{}, cert{}, key{};
  };

  static Status Failure(const HttpRequest& request, CURLcode rc) {
    std::string msg = request.method + " " + request.url + ": " + curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) return Status::DeadlineExceeded(msg);
    return Status::Unavailable(msg);
  }

  // Everything but where the body goes.
  void Configure(CURL* h, const HttpRequest& request, Options* o, HttpResponse* response) {
    o->url = request.url;
    std::string& url = o->url;
    if (!tls_.server_name.empty()) {
      // Verify the certificate against server_name while still connecting to
      // the host in the URL: ask for server_name, connect to the real host.
      auto scheme_end = url.find("://");
      auto host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
      auto host_end = url.find_first_of(":/", host_start);
      if (host_end == std::string::npos) host_end = url.size();
      std::string host = url.substr(host_start, host_end - host_start);
      std::string port = "443";
      if (host_end < url.size() && url[host_end] == ':') {
        auto port_end = url.find('/', host_end);
        port = url.substr(host_end + 1, port_end == std::string::npos ? std::string::npos
                                                                      : port_end - host_end - 1);
      }
      url.replace(host_start, host.size(), tls_.server_name);
      o->connect_to.reset(curl_slist_append(
          nullptr, (tls_.server_name + ":" + port + ":" + host + ":" + port).c_str()));
      curl_easy_setopt(h, CURLOPT_CONNECT_TO, o->connect_to.get());
    }

    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // gzip when offered
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, AppendHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response->headers);
    if (request.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }

    for (const auto& [name, value] : request.headers) {
      o->headers.reset(curl_slist_append(o->headers.release(), (name + ": " + value).c_str()));
    }
    o->headers.reset(curl_slist_append(o->headers.release(), "Expect:"));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, o->headers.get());

    if (!tls_.ca_pem.empty()) {
      o->ca = {const_cast<char*>(tls_.ca_pem.data()), tls_.ca_pem.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &o->ca);
    }
    if (!tls_.client_cert_pem.empty()) {
      o->cert = {const_cast<char*>(tls_.client_cert_pem.data()), tls_.client_cert_pem.size(),
                 CURL_BLOB_NOCOPY};
      o->key = {const_cast<char*>(tls_.client_key_pem.data()), tls_.client_key_pem.size(),
                CURL_BLOB_NOCOPY};
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &o->cert);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &o->key);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, tls_.insecure_skip_verify ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, tls_.insecure_skip_verify ? 0L : 2L);
  }

  TlsConfig tls_;
  std::mutex mu_;
  CURL* handle_;
};

}  // namespace

Result<HttpResponse> HttpTransport::Stream(const HttpRequest& request,
                                           const std::function<bool(std::string_view)>&) {
  return Status::Unimplemented(request.method + " " + request.url +
                               ": this transport cannot stream");
}

Result<std::unique_ptr<HttpTransport>> NewCurlTransport(const TlsConfig& tls) {
  GlobalInitOnce();
  auto transport = std::make_unique<CurlTransport>(tls);
  if (!transport->valid()) return Status::Internal("curl_easy_init failed");
  return std::unique_ptr<HttpTransport>(std::move(transport));
}

}  // namespace pagoda::kube

// The HTTP seam of apply/: KubeClient talks through an HttpTransport so that
// a test can sit a recording or fault-injecting transport in front of the real
// one. The libcurl implementation is the only one pagoda ships.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace pagoda::kube {

struct HttpRequest {
  std::string method;  // "GET", "POST", "PATCH", "PUT", "DELETE"
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  long status = 0;
  // Names lower-cased; a header sent several times has its values one per line.
  std::map<std::string, std::string> headers;
  std::string body;
};

// Performs one request. A transport error (connection refused, TLS failure,
// timeout) is a Status; any HTTP answer, 4xx and 5xx included, is a response.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual Result<HttpResponse> Do(const HttpRequest& request) = 0;

  // Performs a request whose answer arrives over time (a WATCH). The body of
  // a 2xx answer goes to `on_data` piece by piece as it arrives, and an empty
  // piece now and then (at least once a second) between them; returning false ends
  // the request, which then counts as a success. Any other answer comes back
  // whole, body included. Transports that cannot stream say Unimplemented.
  virtual Result<HttpResponse> Stream(const HttpRequest& request,
                                      const std::function<bool(std::string_view)>& on_data);
};

struct TlsConfig {
  std::string ca_pem;  // empty: system trust store
  std::string client_cert_pem;
  std::string client_key_pem;
  bool insecure_skip_verify = false;
  std::string server_name;  // overrides the host name checked in the certificate
};

// A libcurl transport. It keeps one connection open and reuses it (HTTP/2
// when the server offers it over TLS); it is safe to call from several threads,
// which then take turns.
Result<std::unique_ptr<HttpTransport>> NewCurlTransport(const TlsConfig& tls);

}  // namespace pagoda::kube

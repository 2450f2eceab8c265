// libFuzzer target: the webhook's verifier and body parser. The first byte
// picks how the request is signed — correctly for GitHub, Gitea or GitLab
// (so the JSON parser and the event logic are reached), or with a header
// taken from the input — and the rest is the headers' values and the body.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/digest.h"
#include "server/webhook.h"

namespace {

const std::string kSecret = "fuzz-secret";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static pagoda::server::WebhookVerifier verifier(kSecret, 64 * 1024, 64);
  const int mode = data[0] % 5;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  // "EVENT\nDELIVERY\nHEADER-VALUE\nBODY": missing parts are empty.
  std::string_view parts[3];
  for (auto& part : parts) {
    auto nl = rest.find('\n');
    part = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  const std::string body(rest);
  pagoda::server::WebhookHeaders h;
  const std::string event(parts[0]), delivery(parts[1]), value(parts[2]);
  switch (mode) {
    case 0:
      h = {{"x-github-event", event},
           {"x-github-delivery", delivery},
           {"x-hub-signature-256", "sha256=" + pagoda::HmacSha256Hex(kSecret, body)}};
      break;
    case 1:
      h = {{"x-gitea-event", event},
           {"x-gitea-delivery", delivery},
           {"x-gitea-signature", pagoda::HmacSha256Hex(kSecret, body)}};
      break;
    case 2:
      h = {{"x-gitlab-event", event},
           {"x-gitlab-event-uuid", delivery},
           {"x-gitlab-token", kSecret}};
      break;
    case 3:
      h = {{"x-github-event", event}, {"x-hub-signature-256", value}};
      break;
    default:
      h = {{"x-gitlab-event", event}, {"x-gitlab-token", value}};
      break;
  }
  pagoda::server::WebhookAnswer a = verifier.Handle(h, body);
  // What must hold whatever the input.
  const int s = a.http_status;
  if (s != 200 && s != 202 && s != 400 && s != 401 && s != 413) std::abort();
  if (a.fetch && (s != 202 || a.result != "accepted")) std::abort();
  if (mode >= 3 && a.fetch && value != kSecret &&
      value != "sha256=" + pagoda::HmacSha256Hex(kSecret, body)) {
    std::abort();  // a fetch without the secret
  }
  if (a.message.find(kSecret) != std::string::npos) std::abort();
  return 0;
}

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "apply/kube.h"
#include "base/file.h"

namespace pagoda::apply {
namespace {

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Status StatusFromResponse(std::string_view method, std::string_view path,
                          const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return Status::Ok();
  // The API server answers errors with a metav1.Status; fall back to the body.
  std::string message;
  std::string reason;
  rapidjson::Document doc;
  if (!doc.Parse(response.body.c_str()).HasParseError() && doc.IsObject()) {
    if (auto it = doc.FindMember("message"); it != doc.MemberEnd() && it->value.IsString()) {
      message = it->value.GetString();
    }
    if (auto it = doc.FindMember("reason"); it != doc.MemberEnd() && it->value.IsString()) {
      reason = it->value.GetString();
    }
  }
  if (message.empty()) message = TrimNewlines(response.body.substr(0, 512));
  std::string full = std::string(method) + " " + std::string(path) + ": " +
                     std::to_string(response.status) + " " + message;
  switch (response.status) {
    case 400:
    case 422:
      return Status::InvalidArgument(full);
    case 401:
      return Status::Unauthenticated(full);
    case 403:
      return Status::PermissionDenied(full);
    case 404:
    case 410:
      return Status::NotFound(full);
    case 409:
      return reason == "AlreadyExists" ? Status::AlreadyExists(full) : Status::Conflict(full);
    case 504:
      return Status::DeadlineExceeded(full);
    default:
      if (response.status == 429 || response.status >= 500) return Status::Unavailable(full);
      return Status::Internal(full);
  }
}

Result<std::unique_ptr<KubeClient>> KubeClient::Connect(Credentials creds) {
  TlsConfig tls{creds.ca_pem, creds.client_cert_pem, creds.client_key_pem,
                creds.insecure_skip_tls_verify, creds.tls_server_name};
  auto transport = NewCurlTransport(tls);
  if (!transport.ok()) return transport.status();
  return std::make_unique<KubeClient>(std::move(creds), std::move(*transport));
}

KubeClient::KubeClient(Credentials creds, std::unique_ptr<HttpTransport> transport)
    : creds_(std::move(creds)), transport_(std::move(transport)) {}

Result<rapidjson::Document> KubeClient::Get(std::string_view path) {
  return Call("GET", path, "", "");
}

Result<rapidjson::Document> KubeClient::Post(std::string_view path, const rapidjson::Value& body) {
  return Call("POST", path, "application/json", Serialize(body));
}

Result<rapidjson::Document> KubeClient::Patch(std::string_view path, std::string_view content_type,
                                              std::string_view body) {
  return Call("PATCH", path, content_type, std::string(body));
}

Result<rapidjson::Document> KubeClient::Delete(std::string_view path) {
  return Call("DELETE", path, "", "");
}

Result<rapidjson::Document> KubeClient::Call(std::string_view method, std::string_view path,
                                             std::string_view content_type, std::string body) {
  HttpRequest request;
  request.method = std::string(method);
  request.url = creds_.server + std::string(path);
  request.body = std::move(body);
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "pagoda");
  if (!content_type.empty())
    request.headers.emplace_back("Content-Type", std::string(content_type));
  std::string token = creds_.bearer_token;
  if (token.empty() && !creds_.bearer_token_file.empty()) {
    // Re-read on every call: projected service account tokens are rotated
    // on disk by the kubelet, and the file is tiny.
    auto read = ReadFile(creds_.bearer_token_file, 64 << 10);
    if (!read.ok()) return read.status().WithContext("bearer token");
    token = TrimNewlines(std::move(*read));
  }
  if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);

  auto response = transport_->Do(request);
  if (!response.ok()) return response.status();
  PAGODA_RETURN_IF_ERROR(StatusFromResponse(method, path, *response));
  rapidjson::Document doc;
  if (response->body.empty()) {
    doc.SetObject();
    return doc;
  }
  doc.Parse(response->body.c_str(), response->body.size());
  if (doc.HasParseError()) {
    return Status::Internal(
        std::string(method) + " " + std::string(path) +
        ": response is not JSON: " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return doc;
}

}  // namespace pagoda::apply

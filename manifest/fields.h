// Reading one YAML mapping against a schema: each field is asked for by name,
// and whatever was not asked for is an unknown field (with a suggestion).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/parse.h"

namespace pagoda::manifest {

class Fields {
 public:
  // Reports an error when `node` is not a mapping; ok() then is false and every
  // Get() answers nullptr.
  Fields(Sink& sink, const YamlNode& node, std::string path);
  Fields(const Fields&) = delete;
  Fields& operator=(const Fields&) = delete;

  bool ok() const { return ok_; }
  Pos pos() const { return node_.pos; }
  const std::string& path() const { return path_; }
  // "spec" + "replicas" → "spec.replicas".
  std::string Path(std::string_view key) const;

  // The value of `key`, or nullptr when absent or null.
  const YamlNode* Get(std::string_view key);
  // Like Get(), reporting "is required" when absent.
  const YamlNode* Need(std::string_view key, std::string_view hint = "");

  // Reports the fields nobody asked for. Call once, after every Get().
  void Finish();

 private:
  Sink& sink_;
  const YamlNode& node_;
  std::string path_;
  bool ok_ = false;
  std::vector<std::string_view> known_;
};

// Typed values. Each reports its own error at the value and returns false.
bool GetString(Sink& sink, const YamlNode& node, const std::string& path,
               Located<std::string>* out);
// A string in a plain manifest, which goes to Kubernetes as JSON: quoted text,
// or plain text that YAML does not read as a bool or a number.
bool GetJsonString(Sink& sink, const YamlNode& node, const std::string& path,
                   Located<std::string>* out);
bool GetInt(Sink& sink, const YamlNode& node, const std::string& path, int64_t min, int64_t max,
            Located<int64_t>* out);
bool GetPort(Sink& sink, const YamlNode& node, const std::string& path, Located<int>* out);
bool GetBool(Sink& sink, const YamlNode& node, const std::string& path, bool* out);
// `whole_seconds`: Kubernetes takes these durations in seconds.
bool GetDuration(Sink& sink, const YamlNode& node, const std::string& path, bool whole_seconds,
                 int64_t* out_ms);
bool GetStringList(Sink& sink, const YamlNode& node, const std::string& path,
                   std::vector<std::string>* out);
// The index of the scalar among `choices`.
bool GetChoice(Sink& sink, const YamlNode& node, const std::string& path,
               std::initializer_list<std::string_view> choices, int* out);

// `name` in the message form used everywhere: the check's message, or "".
bool CheckName(Sink& sink, const Located<std::string>& name, const std::string& path,
               std::string (*check)(std::string_view));

}  // namespace pagoda::manifest

#include "daemon/log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace pagoda::daemon {
namespace {

constexpr std::array<std::string_view, 6> kFields = {"app",      "env",    "release",
                                                     "revision", "commit", "cluster"};

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '\t') {
      *out += "\\t";
    } else if (c == '\r') {
      *out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      *out += buf;
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":";
    auto since = msg.time.time_since_epoch();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    AppendJsonString(stamp, &line);
    line += ",\"level\":";
    auto level = spdlog::level::to_string_view(msg.level);
    AppendJsonString(std::string_view(level.data(), level.size()), &line);

    // Lift key=value words of the known fields out of the text.
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::string rest, fields;
    size_t i = 0;
    while (i < text.size()) {
      size_t end = text.find(' ', i);
      if (end == std::string_view::npos) end = text.size();
      std::string_view word = text.substr(i, end - i);
      bool lifted = false;
      if (auto eq = word.find('='); eq != std::string_view::npos && eq + 1 < word.size()) {
        std::string_view key = word.substr(0, eq);
        for (auto known : kFields) {
          if (key == known && fields.find("\"" + std::string(key) + "\":") == std::string::npos) {
            fields += ",";
            AppendJsonString(key, &fields);
            fields += ":";
            AppendJsonString(word.substr(eq + 1), &fields);
            lifted = true;
            break;
          }
        }
      }
      if (!lifted) {
        if (!rest.empty()) rest += ' ';
        rest += word;
      }
      i = end + 1;
    }
    line += ",\"msg\":";
    AppendJsonString(rest, &line);
    line += fields;
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> NewJsonLogFormatter() {
  return std::make_unique<JsonFormatter>();
}

std::string ConfigureDaemonLogging(const std::string& format) {
  const bool json = format == "json" || (format != "text" && isatty(STDERR_FILENO) == 0);
  if (json) {
    spdlog::set_formatter(NewJsonLogFormatter());
  } else {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>());
  }
  return json ? "json" : "text";
}

}  // namespace pagoda::daemon

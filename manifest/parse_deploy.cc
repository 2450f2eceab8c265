// DeployConfig: how one instance runs.
#include <algorithm>
#include <map>

#include "manifest/fields.h"
#include "manifest/names.h"
#include "manifest/parse.h"

namespace pagoda::manifest {

namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

void ParseEnv(Sink& sink, const YamlNode& node, DeployConfig* out) {
  if (!node.IsMap()) {
    sink.Error(node.pos, "spec.env",
               "expected a mapping of NAME: value, found " + std::string(node.KindName()));
    return;
  }
  for (const YamlEntry& e : node.entries) {
    std::string path = "spec.env." + e.key;
    EnvVar var;
    var.name = {e.key, e.key_pos};
    CheckName(sink, var.name, path, CheckEnvVarName);
    if (e.value.IsScalar()) {
      var.value = e.value.scalar;
    } else if (e.value.IsMap()) {
      Fields f(sink, e.value, path);
      Located<std::string> secret, key;
      if (const YamlNode* n = f.Need("secret")) {
        if (GetString(sink, *n, f.Path("secret"), &secret)) {
          CheckName(sink, secret, f.Path("secret"), CheckDns1123Subdomain);
        }
      }
      if (const YamlNode* n = f.Need("key")) {
        if (GetString(sink, *n, f.Path("key"), &key)) {
          CheckName(sink, key, f.Path("key"), CheckConfigMapKey);
        }
      }
      f.Finish();
      var.secret = secret.value;
      var.secret_key = key.value;
    } else {
      sink.Error(e.value.pos, path,
                 "expected a string or {secret: NAME, key: KEY}, found " +
                     std::string(e.value.KindName()));
    }
    out->env.push_back(std::move(var));
  }
}

void ParseFiles(Sink& sink, const YamlNode& node, DeployConfig* out) {
  if (!node.IsSequence()) {
    sink.Error(node.pos, "spec.files",
               "expected a list of {path, content}, found " + std::string(node.KindName()));
    return;
  }
  std::map<std::string, Pos> paths, keys;
  size_t total = 0;
  for (size_t i = 0; i < node.items.size(); ++i) {
    std::string path = Index("spec.files", i);
    Fields f(sink, node.items[i], path);
    ConfigFile file;
    if (const YamlNode* n = f.Need("path")) {
      if (GetString(sink, *n, f.Path("path"), &file.path) &&
          CheckName(sink, file.path, f.Path("path"), CheckAbsolutePath)) {
        file.key = file.path.value.substr(1);
        std::replace(file.key.begin(), file.key.end(), '/', '_');
        std::string message = CheckConfigMapKey(file.key);
        auto [it, fresh] = paths.emplace(file.path.value, file.path.pos);
        if (!fresh) {
          sink.Error(file.path.pos, f.Path("path"),
                     Quote(file.path.value) + " is already a file (line " +
                         std::to_string(it->second.line) + ")");
        } else if (!message.empty()) {
          sink.Error(file.path.pos, f.Path("path"),
                     "gives an invalid ConfigMap key (the path without its leading '/', with '/' "
                     "as '_'): " +
                         message);
        } else if (auto [k, new_key] = keys.emplace(file.key, file.path.pos); !new_key) {
          sink.Error(file.path.pos, f.Path("path"),
                     "its ConfigMap key " + Quote(file.key) +
                         " is the same as the file's on line " + std::to_string(k->second.line) +
                         " ('/' becomes '_'); rename one of them");
        }
      }
    }
    if (const YamlNode* n = f.Need("content")) {
      Located<std::string> content;
      if (GetString(sink, *n, f.Path("content"), &content)) {
        file.content = std::move(content.value);
        total += file.content.size();
      }
    }
    f.Finish();
    out->files.push_back(std::move(file));
  }
  if (total > 1000000) {
    sink.Error(node.pos, "spec.files",
               "the files hold " + std::to_string(total) +
                   " bytes; a ConfigMap holds less than 1 MB: mount large data another way");
  }
}

void ParseMounts(Sink& sink, const YamlNode& node, DeployConfig* out) {
  if (!node.IsSequence()) {
    sink.Error(node.pos, "spec.mounts",
               "expected a list of mounts, found " + std::string(node.KindName()));
    return;
  }
  for (size_t i = 0; i < node.items.size(); ++i) {
    std::string path = Index("spec.mounts", i);
    Fields f(sink, node.items[i], path);
    Mount mount;
    if (const YamlNode* n = f.Need("path")) {
      if (GetString(sink, *n, f.Path("path"), &mount.path)) {
        CheckName(sink, mount.path, f.Path("path"), CheckAbsolutePath);
      }
    }
    int type = 0;
    bool have_type = false;
    if (const YamlNode* n = f.Need("type", "emptyDir, secret or configMap")) {
      have_type = GetChoice(sink, *n, f.Path("type"), {"emptyDir", "secret", "configMap"}, &type);
      mount.type = static_cast<MountType>(type);
    }
    const char* source_field[] = {nullptr, "secret", "configMap"};
    for (int t = 1; t <= 2; ++t) {
      const YamlNode* n = f.Get(source_field[t]);
      if (n == nullptr) {
        if (have_type && type == t) {
          sink.Error(f.pos(), f.Path(source_field[t]),
                     std::string("is required for a mount of type ") + source_field[t]);
        }
        continue;
      }
      Located<std::string> name;
      if (!GetString(sink, *n, f.Path(source_field[t]), &name)) continue;
      if (have_type && type != t) {
        sink.Error(name.pos, f.Path(source_field[t]),
                   std::string("applies to mounts of type ") + source_field[t] + " only");
      } else if (CheckName(sink, name, f.Path(source_field[t]), CheckDns1123Subdomain)) {
        mount.source = name.value;
      }
    }
    const YamlNode* size = f.Get("sizeLimit");
    const YamlNode* medium = f.Get("medium");
    if ((size != nullptr || medium != nullptr) && have_type && type != 0) {
      const YamlNode* n = size != nullptr ? size : medium;
      sink.Error(n->pos, f.Path(size != nullptr ? "sizeLimit" : "medium"),
                 "applies to mounts of type emptyDir only");
    } else {
      if (size != nullptr) {
        Located<std::string> text;
        if (GetString(sink, *size, f.Path("sizeLimit"), &text)) {
          Result<int64_t> bytes = ParseMemory(text.value);
          if (!bytes.ok()) {
            sink.Error(text.pos, f.Path("sizeLimit"), bytes.status().message());
          } else {
            mount.size_limit_bytes = *bytes;
          }
        }
      }
      int memory = 0;
      if (medium != nullptr && GetChoice(sink, *medium, f.Path("medium"), {"Memory"}, &memory)) {
        mount.memory_medium = true;
      }
    }
    f.Finish();
    out->mounts.push_back(std::move(mount));
  }
}

void ParsePorts(Sink& sink, const YamlNode& node, DeployConfig* out) {
  if (!node.IsSequence()) {
    sink.Error(node.pos, "spec.ports",
               "expected a list of {name, port}, found " + std::string(node.KindName()));
    return;
  }
  for (size_t i = 0; i < node.items.size(); ++i) {
    Fields f(sink, node.items[i], Index("spec.ports", i));
    ContainerPort port;
    if (const YamlNode* n = f.Need("name")) {
      if (GetString(sink, *n, f.Path("name"), &port.name)) {
        CheckName(sink, port.name, f.Path("name"), CheckPortName);
      }
    }
    if (const YamlNode* n = f.Need("port")) GetPort(sink, *n, f.Path("port"), &port.port);
    int protocol = 0;
    if (const YamlNode* n = f.Get("protocol")) {
      if (GetChoice(sink, *n, f.Path("protocol"), {"tcp", "udp"}, &protocol)) {
        port.protocol = static_cast<Protocol>(protocol);
      }
    }
    f.Finish();
    for (const ContainerPort& other : out->ports) {
      if (!port.name.value.empty() && other.name.value == port.name.value) {
        sink.Error(port.name.pos, f.Path("name"),
                   Quote(port.name.value) + " is already a port name (line " +
                       std::to_string(other.name.pos.line) + ")");
      }
      if (port.port.value != 0 && other.port.value == port.port.value &&
          other.protocol == port.protocol) {
        sink.Error(port.port.pos, f.Path("port"),
                   std::to_string(port.port.value) + " is already a port (line " +
                       std::to_string(other.port.pos.line) + ")");
      }
    }
    out->ports.push_back(std::move(port));
  }
}

void ParseHealth(Sink& sink, const YamlNode& node, DeployConfig* out) {
  Fields f(sink, node, "spec.health");
  if (!f.ok()) return;
  Health health;
  health.pos = node.pos;
  int kinds = 0;
  if (const YamlNode* n = f.Get("http")) {
    ++kinds;
    health.kind = ProbeKind::kHttp;
    Fields http(sink, *n, "spec.health.http");
    Located<std::string> path;
    if (const YamlNode* v = http.Need("path")) {
      if (GetString(sink, *v, "spec.health.http.path", &path)) {
        if (!path.value.starts_with('/')) {
          sink.Error(path.pos, "spec.health.http.path", Quote(path.value) + " must start with '/'");
        }
        health.http_path = path.value;
      }
    }
    Located<int> port;
    if (const YamlNode* v = http.Need("port")) GetPort(sink, *v, "spec.health.http.port", &port);
    health.port = port.value;
    http.Finish();
  }
  if (const YamlNode* n = f.Get("tcp")) {
    ++kinds;
    health.kind = ProbeKind::kTcp;
    Fields tcp(sink, *n, "spec.health.tcp");
    Located<int> port;
    if (const YamlNode* v = tcp.Need("port")) GetPort(sink, *v, "spec.health.tcp.port", &port);
    health.port = port.value;
    tcp.Finish();
  }
  if (const YamlNode* n = f.Get("exec")) {
    ++kinds;
    health.kind = ProbeKind::kExec;
    Fields exec(sink, *n, "spec.health.exec");
    if (const YamlNode* v = exec.Need("command")) {
      if (GetStringList(sink, *v, "spec.health.exec.command", &health.exec_command) &&
          health.exec_command.empty()) {
        sink.Error(v->pos, "spec.health.exec.command", "must not be empty");
      }
    }
    exec.Finish();
  }
  if (kinds != 1) {
    sink.Error(node.pos, "spec.health",
               kinds == 0 ? "needs a check: one of http, tcp or exec"
                          : "has more than one check: use one of http, tcp or exec");
  }
  if (const YamlNode* n = f.Get("initialDelay")) {
    GetDuration(sink, *n, "spec.health.initialDelay", true, &health.initial_delay_ms);
  }
  struct AtLeastOneSecond {
    const char* key;
    int64_t* value;
  } durations[] = {{"period", &health.period_ms}, {"timeout", &health.timeout_ms}};
  for (const auto& d : durations) {
    const YamlNode* n = f.Get(d.key);
    if (n == nullptr) continue;
    std::string path = f.Path(d.key);
    if (GetDuration(sink, *n, path, true, d.value) && *d.value < 1000) {
      sink.Error(n->pos, path, "must be at least 1s");
    }
  }
  if (const YamlNode* n = f.Get("failureThreshold")) {
    Located<int64_t> threshold;
    if (GetInt(sink, *n, "spec.health.failureThreshold", 1, 1000, &threshold)) {
      health.failure_threshold = static_cast<int>(threshold.value);
    }
  }
  f.Finish();
  out->health = std::move(health);
}

void ParseShutdown(Sink& sink, const YamlNode& node, DeployConfig* out) {
  Fields f(sink, node, "spec.shutdown");
  const YamlNode* sleep = f.Get("preStopSleep");
  bool sleep_ok = sleep != nullptr && GetDuration(sink, *sleep, "spec.shutdown.preStopSleep", true,
                                                  &out->shutdown.pre_stop_sleep_ms);
  const YamlNode* grace = f.Get("gracePeriod");
  bool grace_ok = grace == nullptr || GetDuration(sink, *grace, "spec.shutdown.gracePeriod", true,
                                                  &out->shutdown.grace_period_ms);
  if (sleep_ok && grace_ok && out->shutdown.pre_stop_sleep_ms > 0 &&
      out->shutdown.pre_stop_sleep_ms >= out->shutdown.grace_period_ms) {
    sink.Error(sleep->pos, "spec.shutdown.preStopSleep",
               std::to_string(out->shutdown.pre_stop_sleep_ms / 1000) +
                   "s is not less than gracePeriod (" +
                   std::to_string(out->shutdown.grace_period_ms / 1000) +
                   "s): the instance would be killed before it is asked to stop");
  }
  f.Finish();
}

}  // namespace

bool ParseDeployConfig(const YamlNode& doc, Sink& sink, DeployConfig* out) {
  int errors = sink.errors();
  out->file = sink.file();
  out->name.pos = doc.pos;
  const YamlNode* spec =
      ReadEnvelope(doc, sink, "DeployConfig", true, &out->name, CheckDns1123Label);
  if (spec == nullptr) return false;
  Fields f(sink, *spec, "spec");
  if (const YamlNode* n = f.Need("image")) {
    if (GetString(sink, *n, "spec.image", &out->image)) {
      const std::string& image = out->image.value;
      if (image.empty() || image.find_first_of(" \t\n") != std::string::npos) {
        sink.Error(out->image.pos, "spec.image",
                   Quote(image) +
                       " is not an image reference such as "
                       "registry.example.com/shop/web:1.4.2");
      }
    }
  }
  struct Quantity {
    const char* key;
    Result<int64_t> (*parse)(std::string_view);
    Located<int64_t>* out;
  } quantities[] = {{"cpu", ParseCpu, &out->millicpu}, {"memory", ParseMemory, &out->memory_bytes}};
  for (const Quantity& q : quantities) {
    const YamlNode* n = f.Need(q.key, "0 for no reservation");
    Located<std::string> text;
    if (n == nullptr || !GetString(sink, *n, f.Path(q.key), &text)) continue;
    Result<int64_t> value = q.parse(text.value);
    if (!value.ok()) {
      sink.Error(text.pos, f.Path(q.key), value.status().message());
      continue;
    }
    *q.out = {*value, text.pos};
  }
  if (const YamlNode* n = f.Get("command")) GetStringList(sink, *n, "spec.command", &out->command);
  if (const YamlNode* n = f.Get("args")) GetStringList(sink, *n, "spec.args", &out->args);
  if (const YamlNode* n = f.Get("env")) ParseEnv(sink, *n, out);
  if (const YamlNode* n = f.Get("files")) ParseFiles(sink, *n, out);
  if (const YamlNode* n = f.Get("mounts")) ParseMounts(sink, *n, out);
  if (const YamlNode* n = f.Get("ports")) ParsePorts(sink, *n, out);
  if (const YamlNode* n = f.Get("health")) ParseHealth(sink, *n, out);
  if (const YamlNode* n = f.Get("shutdown")) ParseShutdown(sink, *n, out);
  f.Finish();
  return sink.errors() == errors;
}

}  // namespace pagoda::manifest

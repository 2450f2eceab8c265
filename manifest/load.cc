// Reading a repository: list apps/, read and parse each app's files, validate.
#include <algorithm>
#include <map>
#include <tuple>

#include "manifest/manifest.h"
#include "manifest/parse.h"
#include "manifest/validate.h"
#include "manifest/yaml_reader.h"

namespace pagoda::manifest {
namespace {

enum class Place { kApp, kDeploy, kEnv, kManifest, kOther };

bool IsYamlFile(std::string_view name) { return name.ends_with(".yaml") || name.ends_with(".yml"); }

// "app.yaml", "deploy/web.yaml" → where the file belongs in an app.
Place Classify(std::string_view rest) {
  if (rest == "app.yaml" || rest == "app.yml") return Place::kApp;
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return Place::kOther;
  std::string_view dir = rest.substr(0, slash);
  std::string_view name = rest.substr(slash + 1);
  if (name.find('/') != std::string_view::npos || !IsYamlFile(name)) return Place::kOther;
  if (dir == "deploy") return Place::kDeploy;
  if (dir == "envs") return Place::kEnv;
  if (dir == "manifests") return Place::kManifest;
  return Place::kOther;
}

struct AppFiles {
  std::vector<std::pair<std::string, Place>> files;
};

class Loader {
 public:
  Loader(const FileSource& source, const LoadOptions& options)
      : source_(source), options_(options) {}

  Repository Load() {
    Repository repo;
    Result<std::vector<std::string>> listed = source_.ListFiles("apps");
    if (!listed.ok()) {
      std::string message = listed.status().code() == Status::Code::kNotFound
                                ? "no apps/ directory: a config repository holds "
                                  "apps/<app>/app.yaml"
                                : listed.status().message();
      repo.diagnostics.push_back({Severity::kError, "apps", 0, 0, "", message});
      return repo;
    }
    std::vector<std::string> paths = std::move(listed.value());
    std::sort(paths.begin(), paths.end());
    std::map<std::string, AppFiles> apps;
    for (const std::string& path : paths) {
      std::string_view rest = std::string_view(path).substr(5);  // after "apps/"
      size_t slash = rest.find('/');
      if (slash == std::string_view::npos) {
        repo.diagnostics.push_back(
            {Severity::kWarning, path, 0, 0, "", "ignored: apps/ holds one directory per app"});
        continue;
      }
      std::string app(rest.substr(0, slash));
      apps[app].files.emplace_back(path, Classify(rest.substr(slash + 1)));
    }
    for (auto& [name, files] : apps) repo.apps.push_back(LoadApp(name, files));
    CheckPublicListeners(&repo.apps);
    for (AppResult& app : repo.apps) {
      std::sort(app.diagnostics.begin(), app.diagnostics.end());
      app.valid = !HasErrors(app.diagnostics);
    }
    std::sort(repo.diagnostics.begin(), repo.diagnostics.end());
    return repo;
  }

 private:
  AppResult LoadApp(const std::string& name, const AppFiles& files) {
    AppResult result;
    result.name = name;
    result.model.name = name;
    std::vector<Diagnostic>* out = &result.diagnostics;
    bool have_app = false;
    for (const auto& [path, place] : files.files) {
      if (place == Place::kOther) {
        out->push_back({Severity::kWarning, path, 0, 0, "",
                        "ignored: an app holds app.yaml, deploy/*.yaml, envs/*.yaml and "
                        "manifests/*.yaml"});
        continue;
      }
      Sink sink(path, out);
      std::vector<YamlDocument> docs;
      if (!Read(path, sink, &docs)) {
        if (place == Place::kApp) have_app = true;  // its error is reported already
        continue;
      }
      switch (place) {
        case Place::kApp:
          if (have_app) {
            sink.Error({}, "", "a second app file; an app has one app.yaml");
            break;
          }
          have_app = true;
          if (docs.size() != 1) {
            sink.Error({}, "",
                       "holds " + std::to_string(docs.size()) +
                           " documents; app.yaml holds exactly one App");
            break;
          }
          if (ParseApp(docs[0].root, sink, &result.model.app) &&
              result.model.app.name.value != name) {
            sink.Error(result.model.app.name.pos, "metadata.name",
                       "\"" + result.model.app.name.value +
                           "\" does not match its directory apps/" + name);
          }
          break;
        case Place::kDeploy:
          for (const YamlDocument& doc : docs) {
            DeployConfig config;
            ParseDeployConfig(doc.root, sink, &config);
            result.model.deploy_configs.push_back(std::move(config));
          }
          break;
        case Place::kEnv:
          for (const YamlDocument& doc : docs) {
            Environment env;
            ParseEnvironment(doc.root, sink, &env);
            result.model.environments.push_back(std::move(env));
          }
          break;
        case Place::kManifest:
          for (const YamlDocument& doc : docs) {
            PlainManifest manifest;
            if (ParseManifest(doc.root, name, sink, &manifest)) {
              result.model.manifests.push_back(std::move(manifest));
            }
          }
          break;
        case Place::kOther:
          break;
      }
    }
    if (!have_app) {
      out->push_back({Severity::kError, "apps/" + name + "/app.yaml", 0, 0, "",
                      "missing: every app directory needs an app.yaml of kind App"});
    }
    ValidateApp(options_, &result.model, out);
    AppModel& m = result.model;
    std::stable_sort(m.deploy_configs.begin(), m.deploy_configs.end(),
                     [](const auto& a, const auto& b) { return a.name.value < b.name.value; });
    std::stable_sort(m.environments.begin(), m.environments.end(),
                     [](const auto& a, const auto& b) { return a.name.value < b.name.value; });
    std::stable_sort(m.manifests.begin(), m.manifests.end(), [](const auto& a, const auto& b) {
      return std::tie(a.file, a.pos.line, a.pos.column) <
             std::tie(b.file, b.pos.line, b.pos.column);
    });
    return result;
  }

  bool Read(const std::string& path, Sink& sink, std::vector<YamlDocument>* docs) {
    size_t budget =
        options_.max_repo_bytes > bytes_read_ ? options_.max_repo_bytes - bytes_read_ : 0;
    size_t limit = std::min(options_.max_file_bytes, budget);
    Result<std::string> text = source_.ReadFile(path, limit);
    if (!text.ok()) {
      if (text.status().code() == Status::Code::kInvalidArgument &&
          limit < options_.max_file_bytes) {
        sink.Error({}, "",
                   "the repository holds more than " + std::to_string(options_.max_repo_bytes) +
                       " bytes of files; refusing to read more");
      } else if (text.status().code() == Status::Code::kInvalidArgument) {
        sink.Error({}, "",
                   "larger than " + std::to_string(options_.max_file_bytes) +
                       " bytes; pagoda reads files up to that size");
      } else {
        std::string message = text.status().message();
        if (message.starts_with(path + ": ")) message = message.substr(path.size() + 2);
        sink.Error({}, "", message);
      }
      return false;
    }
    bytes_read_ += text->size();
    YamlResult parsed = ReadYaml(*text, {options_.max_depth, options_.max_nodes_per_file});
    if (!parsed.ok) {
      sink.Error(parsed.error_pos, "", parsed.error);
      return false;
    }
    *docs = std::move(parsed.documents);
    return true;
  }

  const FileSource& source_;
  const LoadOptions& options_;
  size_t bytes_read_ = 0;
};

}  // namespace

Repository LoadRepository(const FileSource& source, const LoadOptions& options) {
  return Loader(source, options).Load();
}

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

std::strong_ordering operator<=>(const Diagnostic& a, const Diagnostic& b) {
  return std::tie(a.file, a.line, a.column, a.field, a.message, a.severity) <=>
         std::tie(b.file, b.line, b.column, b.field, b.message, b.severity);
}

bool HasErrors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

const DeployConfig* AppModel::FindDeployConfig(std::string_view config) const {
  for (const DeployConfig& c : deploy_configs) {
    if (c.name.value == config) return &c;
  }
  return nullptr;
}

const AppResult* Repository::FindApp(std::string_view app) const {
  auto it = std::lower_bound(apps.begin(), apps.end(), app,
                             [](const AppResult& a, std::string_view n) { return a.name < n; });
  return it != apps.end() && it->name == app ? &*it : nullptr;
}

std::vector<Diagnostic> Repository::AllDiagnostics() const {
  std::vector<Diagnostic> all = diagnostics;
  for (const AppResult& app : apps)
    all.insert(all.end(), app.diagnostics.begin(), app.diagnostics.end());
  std::sort(all.begin(), all.end());
  return all;
}

bool Repository::ok() const {
  if (HasErrors(diagnostics)) return false;
  return std::all_of(apps.begin(), apps.end(), [](const AppResult& a) { return a.valid; });
}

}  // namespace pagoda::manifest

// Reading a repository: list apps/, read and parse each app's files, validate.

#include <algorithm>
#include <map>
#include <tuple>

#include "base/yaml.h"
#include "manifest/manifest.h"
#include "manifest/parse.h"
#include "manifest/validate.h"

namespace pagoda::manifest {
namespace {

enum class Place { kApp, kDeploy, kEnv, kManifest, kOther };

using AppClaims = std::shared_ptr<const std::vector<ListenerClaim>>;  // null: none

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

std::string Bytes(uint64_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= (1u << 10) && n % (1u << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

struct AppFile {
  std::string path;
  Place place = Place::kOther;
  uint64_t size = 0;
};

// One app's folder as listed, before anything is read.
struct AppFolder {
  std::string name;
  std::vector<AppFile> files;        // sorted by path
  uint64_t yaml_bytes = 0;           // of the files that would be read
  std::vector<Diagnostic> refusals;  // budgets it is past: nothing of it is read
};

}  // namespace

// What a LoadCache keeps of one app.
struct LoadCache::App {
  std::string tree;
  AppFolder listed;
  AppResult result;
  bool budget_refused = false;  // `result` is a refusal by the repository's budget
  AppClaims claims;             // AppListenerClaims(result)
};

struct LoadCache::Listeners {
  std::vector<AppClaims> by_app;  // in the order of the apps
  ListenerCheck check;            // CheckPublicListeners(by_app)
};

namespace {

// An app's folder in one load, and what the cache had of it.
struct Folder {
  std::string tree;                              // FileSource::TreeId; "" when unknown
  std::shared_ptr<const LoadCache::App> cached;  // of the same tree, when the cache had it
  AppFolder own;                                 // as listed now, when not cached
  std::vector<Diagnostic> budget;  // the repository's budget refuses it: nothing of it is read
  bool reused = false;             // its result is the cache's
  bool was_cached = false;         // the cache had an entry of its name, of any tree

  const AppFolder& listed() const { return cached ? cached->listed : own; }
};

class Loader {
 public:
  Loader(const FileSource& source, const LoadOptions& options, LoadCache* cache)
      : source_(source), options_(options), cache_(cache) {}

  Repository Load() {
    Repository repo;
    Result<Listing> top = source_.List("apps", {.max_depth = 0});
    if (!top.ok()) {
      std::string message = top.status().code() == Status::Code::kNotFound
                                ? "no apps/ directory: a config repository holds "
                                  "apps/<app>/app.yaml"
                                : top.status().message();
      repo.diagnostics.push_back({Severity::kError, "apps", 0, 0, "", message});
      if (cache_ != nullptr) *cache_ = {};
      return repo;
    }
    for (const FileInfo& f : top->files) {
      repo.diagnostics.push_back(
          {Severity::kWarning, f.path, 0, 0, "", "ignored: apps/ holds one directory per app"});
    }
    std::vector<Folder> folders = ListOrReuse(std::move(*top));
    RefuseLargestPastRepositoryBudget(&folders);
    repo.apps.reserve(folders.size());
    for (Folder& folder : folders) repo.apps.push_back(LoadOrReuse(folder));
    auto listeners = CheckOrReuseListeners(folders, repo);
    repo.listener_claims = listeners->check.claims;
    repo.diagnostics.insert(repo.diagnostics.end(), listeners->check.diagnostics.begin(),
                            listeners->check.diagnostics.end());
    LoadFreeze(&repo);
    for (AppResult& app : repo.apps) {
      std::sort(app.diagnostics.begin(), app.diagnostics.end());
      app.valid = !HasErrors(app.diagnostics);
    }
    std::sort(repo.diagnostics.begin(), repo.diagnostics.end());
    Keep(folders, repo, std::move(listeners));
    return repo;
  }

 private:
  // policy/freeze.yaml, when the repository has one. A freeze file with
  // errors freezes everything (freeze_error): a typo must not open a window.
  void LoadFreeze(Repository* repo) {
    static constexpr char kFreezeFile[] = "policy/freeze.yaml";
    Result<Listing> listed = source_.List("policy", {.max_depth = 0});
    if (!listed.ok()) {
      if (listed.status().code() == Status::Code::kNotFound) return;
      repo->diagnostics.push_back(
          {Severity::kError, "policy", 0, 0, "", listed.status().message()});
      repo->freeze_error = repo->diagnostics.back().ToString();
      return;
    }
    bool found = false;
    for (const FileInfo& f : listed->files) {
      if (f.path == kFreezeFile) {
        found = true;
      } else {
        repo->diagnostics.push_back({Severity::kWarning, f.path, 0, 0, "",
                                     "ignored: policy/ holds freeze.yaml (kind Freeze)"});
      }
    }
    if (!found) return;
    std::vector<Diagnostic> found_problems;
    Sink sink(kFreezeFile, &found_problems);
    app_bytes_left_ = options_.max_app_bytes;
    std::vector<YamlDocument> docs;
    if (Read(kFreezeFile, sink, &docs)) {
      if (docs.size() == 1) {
        ParseFreeze(docs[0].root, sink, &repo->freeze);
      } else {
        sink.Error({}, "", "holds one document of kind Freeze, not " + std::to_string(docs.size()));
      }
    }
    for (Diagnostic& d : found_problems) {
      if (d.severity == Severity::kError && repo->freeze_error.empty()) {
        repo->freeze_error = d.ToString();
      }
      repo->diagnostics.push_back(std::move(d));
    }
    if (!repo->freeze_error.empty()) repo->freeze.windows.clear();
  }

  AppFolder ListApp(const std::string& dir) {
    AppFolder folder;
    folder.name = dir.substr(5);  // after "apps/"
    auto refuse = [&](std::string file, std::string message) {
      folder.refusals.push_back({Severity::kError, std::move(file), 0, 0, "", std::move(message)});
    };
    Result<Listing> listed = source_.List(
        dir, {.max_depth = options_.max_app_depth, .max_files = options_.max_app_files});
    if (!listed.ok()) {
      refuse(dir, listed.status().message());
      return folder;
    }
    if (listed->truncated) {
      refuse(dir, "holds more than " + std::to_string(options_.max_app_files) +
                      " files; pagoda reads an app of at most that many");
    }
    std::sort(listed->directories.begin(), listed->directories.end());
    for (const std::string& deep : listed->directories) {
      refuse(deep, "directories nested more than " + std::to_string(options_.max_app_depth) +
                       " levels deep in " + dir +
                       "; an app holds app.yaml, deploy/, envs/ and "
                       "manifests/");
    }
    std::sort(listed->files.begin(), listed->files.end(),
              [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
    for (FileInfo& f : listed->files) {
      Place place = Classify(std::string_view(f.path).substr(dir.size() + 1));
      if (place != Place::kOther) folder.yaml_bytes += f.size;
      folder.files.push_back({std::move(f.path), place, f.size});
    }
    if (folder.yaml_bytes > options_.max_app_bytes) {
      refuse(dir, "its YAML files hold " + Bytes(folder.yaml_bytes) + ", more than the " +
                      Bytes(options_.max_app_bytes) + " pagoda reads of one app");
    }
    return folder;
  }

  // Past the repository's budget, the largest apps are refused until the
  // rest fit; ties go to the later name, so the outcome never depends on
  // the order of a listing.
  void RefuseLargestPastRepositoryBudget(std::vector<Folder>* folders) {
    uint64_t total = 0;
    std::vector<Folder*> readable;
    for (Folder& f : *folders) {
      if (!f.listed().refusals.empty()) continue;
      total += f.listed().yaml_bytes;
      readable.push_back(&f);
    }
    if (total <= options_.max_repo_bytes) return;
    const uint64_t all = total;
    std::sort(readable.begin(), readable.end(), [](const Folder* a, const Folder* b) {
      return std::tie(a->listed().yaml_bytes, a->listed().name) >
             std::tie(b->listed().yaml_bytes, b->listed().name);
    });
    for (Folder* f : readable) {
      if (total <= options_.max_repo_bytes) break;
      const AppFolder& listed = f->listed();
      total -= listed.yaml_bytes;
      f->budget.push_back(
          {Severity::kError, "apps/" + listed.name, 0, 0, "",
           "the apps' YAML files hold " + Bytes(all) + " in all, more than the " +
               Bytes(options_.max_repo_bytes) +
               " pagoda reads of a repository; the largest apps are refused until the rest "
               "fit, and this one holds " +
               Bytes(listed.yaml_bytes)});
    }
  }

  // The folders of apps/ by name: each as the cache has it when its tree is
  // unchanged, else as listed now. The cache is sorted by name as the
  // folders are, so it is walked alongside them rather than searched.
  std::vector<Folder> ListOrReuse(Listing top) {
    std::vector<std::pair<std::string, std::string>> dirs;  // path, tree
    dirs.reserve(top.directories.size());
    const bool trees_listed = top.directory_trees.size() == top.directories.size();
    for (size_t i = 0; i < top.directories.size(); ++i) {
      dirs.emplace_back(std::move(top.directories[i]),
                        trees_listed ? std::move(top.directory_trees[i]) : std::string());
    }
    if (!std::is_sorted(dirs.begin(), dirs.end())) std::sort(dirs.begin(), dirs.end());
    std::vector<Folder> folders(dirs.size());
    auto cached = cache_ != nullptr ? cache_->apps.begin() : decltype(cache_->apps.begin())();
    for (size_t i = 0; i < dirs.size(); ++i) {
      auto& [dir, tree] = dirs[i];
      Folder& folder = folders[i];
      folder.tree = trees_listed ? std::move(tree) : source_.TreeId(dir);
      if (cache_ != nullptr) {
        const std::string_view name = std::string_view(dir).substr(5);  // after "apps/"
        while (cached != cache_->apps.end() && cached->first < name) ++cached;
        folder.was_cached = cached != cache_->apps.end() && cached->first == name;
        if (folder.was_cached && !folder.tree.empty() && cached->second->tree == folder.tree) {
          folder.cached = cached->second;
        }
      }
      if (!folder.cached) folder.own = ListApp(dir);
    }
    return folders;
  }

  // The cache's result when the repository's budget judges the app as it did
  // then (its result depends on the app's own files alone otherwise), else read now.
  AppResult LoadOrReuse(Folder& folder) {
    const bool budget_refused = !folder.budget.empty();
    if (folder.cached && !budget_refused && !folder.cached->budget_refused) {
      folder.reused = true;
      return folder.cached->result;
    }
    if (!budget_refused) return LoadApp(folder.listed());
    AppFolder refused = folder.listed();
    refused.refusals.insert(refused.refusals.end(), folder.budget.begin(), folder.budget.end());
    return LoadApp(refused);
  }

  // Each app's claims on public listeners (a reused app's as they were),
  // and what they come to: the last load's when every app claims what it
  // did then, so that a commit that leaves them be costs no look across apps.
  std::shared_ptr<const LoadCache::Listeners> CheckOrReuseListeners(
      const std::vector<Folder>& folders, const Repository& repo) {
    auto listeners = std::make_shared<LoadCache::Listeners>();
    for (size_t i = 0; i < folders.size(); ++i) {
      if (folders[i].reused) {
        listeners->by_app.push_back(folders[i].cached->claims);
        continue;
      }
      auto claims = AppListenerClaims(repo.apps[i]);
      listeners->by_app.push_back(
          claims.empty() ? nullptr
                         : std::make_shared<const std::vector<ListenerClaim>>(std::move(claims)));
    }
    const LoadCache::Listeners* last = cache_ != nullptr ? cache_->listeners.get() : nullptr;
    if (last != nullptr && SameClaims(last->by_app, listeners->by_app)) {
      listeners->check = last->check;
    } else {
      listeners->check = CheckPublicListeners(listeners->by_app);
    }
    return listeners;
  }

  static bool SameClaims(const std::vector<AppClaims>& a, const std::vector<AppClaims>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] == b[i]) continue;
      if (a[i] == nullptr || b[i] == nullptr || *a[i] != *b[i]) return false;
    }
    return true;
  }

  // Leaves in the cache what this load has: reused entries as they are, the
  // others anew, and none of apps no longer listed. Changed in place, so
  // that a load which reuses nearly every app touches nearly nothing here.
  void Keep(std::vector<Folder>& folders, const Repository& repo,
            std::shared_ptr<const LoadCache::Listeners> listeners) {
    if (cache_ == nullptr) return;
    auto& apps = cache_->apps;
    cache_->listeners = std::move(listeners);
    cache_->reused = cache_->read = 0;
    DropUnlisted(folders);
    for (size_t i = 0; i < folders.size(); ++i) {
      Folder& f = folders[i];
      if (f.reused) {
        ++cache_->reused;
        continue;
      }
      ++cache_->read;
      const std::string& name = f.listed().name;
      if (f.tree.empty()) {
        if (auto it = apps.find(name); it != apps.end()) apps.erase(it);
        continue;
      }
      auto app = std::make_shared<LoadCache::App>();
      app->tree = f.tree;
      app->budget_refused = !f.budget.empty();
      app->listed = f.cached ? f.cached->listed : std::move(f.own);
      app->result = repo.apps[i];
      app->claims = cache_->listeners->by_app[i];
      apps.insert_or_assign(app->listed.name, std::move(app));
    }
  }

  // Removes the cache's apps that `folders` (sorted by name, as the cache
  // is) no longer lists. Nothing to walk when every cached app was listed.
  void DropUnlisted(const std::vector<Folder>& folders) {
    auto& apps = cache_->apps;
    const size_t listed_and_cached = static_cast<size_t>(std::count_if(
        folders.begin(), folders.end(), [](const Folder& f) { return f.was_cached; }));
    if (listed_and_cached == apps.size()) return;
    size_t i = 0;
    for (auto it = apps.begin(); it != apps.end();) {
      while (i < folders.size() && folders[i].listed().name < it->first) ++i;
      if (i < folders.size() && folders[i].listed().name == it->first) {
        ++it;
      } else {
        it = apps.erase(it);
      }
    }
  }

  AppResult LoadApp(const AppFolder& folder) {
    const std::string& name = folder.name;
    AppResult result;
    result.name = name;
    AppModel model;
    model.name = name;
    model.pod_security = options_.pod_security.For(name);
    std::vector<Diagnostic>* out = &result.diagnostics;
    const std::string app_file = "apps/" + name + "/app.yaml";
    if (!folder.refusals.empty()) {
      out->insert(out->end(), folder.refusals.begin(), folder.refusals.end());
      CheckReservedName(model, result);
      result.shared_model = std::make_shared<const AppModel>(std::move(model));
      return result;
    }
    app_bytes_left_ = options_.max_app_bytes;
    bool have_app = false;
    for (const AppFile& file : folder.files) {
      const std::string& path = file.path;
      if (file.place == Place::kOther) {
        out->push_back({Severity::kWarning, path, 0, 0, "",
                        "ignored: an app holds app.yaml, deploy/*.yaml, envs/*.yaml and "
                        "manifests/*.yaml"});
        continue;
      }
      Sink sink(path, out);
      std::vector<YamlDocument> docs;
      if (!Read(path, sink, &docs)) {
        if (file.place == Place::kApp) have_app = true;  // its error is reported already
        continue;
      }
      switch (file.place) {
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
          if (ParseApp(docs[0].root, sink, &model.app) && model.app.name.value != name) {
            sink.Error(
                model.app.name.pos, "metadata.name",
                "\"" + model.app.name.value + "\" does not match its directory apps/" + name);
          }
          break;
        case Place::kDeploy:
          for (const YamlDocument& doc : docs) {
            DeployConfig config;
            ParseDeployConfig(doc.root, sink, &config);
            model.deploy_configs.push_back(std::move(config));
          }
          break;
        case Place::kEnv:
          for (const YamlDocument& doc : docs) {
            Environment env;
            ParseEnvironment(doc.root, sink, &env);
            model.environments.push_back(std::move(env));
          }
          break;
        case Place::kManifest:
          for (const YamlDocument& doc : docs) {
            PlainManifest manifest;
            if (ParseManifest(doc.root, name, model.pod_security, sink, &manifest)) {
              model.manifests.push_back(std::move(manifest));
            }
          }
          break;
        case Place::kOther:
          break;
      }
    }
    if (!have_app) {
      out->push_back({Severity::kError, app_file, 0, 0, "",
                      "missing: every app directory needs an app.yaml of kind App"});
    }
    CheckReservedName(model, result);
    ValidateApp(options_, &model, out);
    AppModel& m = model;
    std::stable_sort(m.deploy_configs.begin(), m.deploy_configs.end(),
                     [](const auto& a, const auto& b) { return a.name.value < b.name.value; });
    std::stable_sort(m.environments.begin(), m.environments.end(),
                     [](const auto& a, const auto& b) { return a.name.value < b.name.value; });
    std::stable_sort(m.manifests.begin(), m.manifests.end(), [](const auto& a, const auto& b) {
      return std::tie(a.file, a.pos.line, a.pos.column) <
             std::tie(b.file, b.pos.line, b.pos.column);
    });
    result.shared_model = std::make_shared<const AppModel>(std::move(model));
    return result;
  }

  // An app's name is its namespace: never one the platform keeps.
  void CheckReservedName(const AppModel& model, AppResult& result) {
    std::string pattern = ReservedNamespacePattern(result.name, options_.reserved_namespaces);
    if (pattern.empty()) return;
    const App& app = model.app;
    const bool located = !app.file.empty() && app.name.value == result.name;
    result.diagnostics.push_back(
        {Severity::kError, located ? app.file : "apps/" + result.name + "/app.yaml",
         located ? app.name.pos.line : 0, located ? app.name.pos.column : 0,
         located ? "metadata.name" : "",
         "\"" + result.name + "\" is a namespace the platform keeps (" + pattern +
             "); an app's name is its namespace, so choose another"});
  }

  // Reads and parses one file within what is left of the app's budget.
  bool Read(const std::string& path, Sink& sink, std::vector<YamlDocument>* docs) {
    Result<std::string> text = source_.ReadFile(path, options_.max_file_bytes);
    if (!text.ok()) {
      if (text.status().code() == Status::Code::kInvalidArgument) {
        sink.Error({}, "",
                   "larger than " + Bytes(options_.max_file_bytes) +
                       "; pagoda reads files up to that size");
      } else {
        std::string message = text.status().message();
        if (message.starts_with(path + ": ")) message = message.substr(path.size() + 2);
        sink.Error({}, "", message);
      }
      return false;
    }
    const bool app_bound = app_bytes_left_ < options_.max_expanded_bytes_per_file;
    YamlLimits limits{options_.max_depth, options_.max_nodes_per_file,
                      std::min(options_.max_expanded_bytes_per_file, app_bytes_left_),
                      options_.max_aliases_per_file};
    YamlResult parsed = ReadYaml(*text, limits);
    if (!parsed.ok) {
      std::string message = parsed.error;
      if (parsed.over_bytes && app_bound) {
        message = "the app's files expand to more than " + Bytes(options_.max_app_bytes) +
                  " (aliases count each copy); refusing to read more of them";
      }
      sink.Error(parsed.error_pos, "", message);
      app_bytes_left_ = parsed.over_bytes ? 0 : app_bytes_left_;
      return false;
    }
    app_bytes_left_ -= std::min(app_bytes_left_, parsed.bytes);
    *docs = std::move(parsed.documents);
    return true;
  }

  const FileSource& source_;
  const LoadOptions& options_;
  LoadCache* cache_;           // may be null
  size_t app_bytes_left_ = 0;  // of the app being read: what its files may still expand to
};

}  // namespace

Repository LoadRepository(const FileSource& source, const LoadOptions& options) {
  return Loader(source, options, nullptr).Load();
}

Repository LoadRepository(const FileSource& source, const LoadOptions& options, LoadCache* cache) {
  return Loader(source, options, cache).Load();
}

}  // namespace pagoda::manifest

#include "cli/manifest_commands.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <set>

#include "daemon/config.h"
#include "engine/engine.h"
#include "manifest/manifest.h"
#include "source/source.h"

namespace pagoda::cli {

using daemon::ApplyRepositoryConfig;
using engine::Selection;
using engine::SelectTargets;
namespace {

using manifest::AppResult;
using manifest::Diagnostic;
using manifest::Repository;
using manifest::Severity;

// Loads the repository and resolves the targets; returns 0 or a usage exit code.
int Prepare(const ManifestFlags& flags, std::ostream& err, Repository* repo, Selection* selection) {
  manifest::LoadOptions options;
  for (const std::string& cluster : flags.clusters) {
    std::string name = cluster.substr(0, cluster.find('='));
    if (name.empty()) {
      err << "pagoda: --cluster " << cluster << ": expected NAME or NAME=CONTEXT\n";
      return 2;
    }
    options.known_clusters.push_back(name);
  }
  if (!flags.node_allocatable.empty()) {
    Result<manifest::NodeAllocatable> node = manifest::ParseNodeAllocatable(flags.node_allocatable);
    if (!node.ok()) {
      err << "pagoda: --node-allocatable: " << node.status().message() << "\n";
      return 2;
    }
    options.node_allocatable = *node;
  }
  if (Status st = ApplyRepositoryConfig(flags.config, &options); !st.ok()) {
    err << "pagoda: --config: " << st.message() << "\n";
    return 2;
  }
  std::unique_ptr<manifest::FileSource> source = source::NewDirectorySource(flags.repo);
  *repo = manifest::LoadRepository(*source, options);

  auto selected = SelectTargets(*repo, flags.targets);
  if (!selected.ok()) {
    err << "pagoda: " << selected.status().message() << "\n";
    return 2;
  }
  *selection = std::move(*selected);
  return 0;
}

// The diagnostics of the selection: repository-wide ones, and those of the
// selected apps that are not about unselected environments.
std::vector<Diagnostic> Selected(const Repository& repo, const Selection& selection) {
  std::vector<Diagnostic> out = repo.diagnostics;
  for (const AppResult& app : repo.apps) {
    if (!selection.HasApp(app.name)) continue;
    std::set<std::string> other_env_files;
    for (const auto& env : app.model().environments) {
      if (!selection.HasEnv(app.name, env.name.value)) other_env_files.insert(env.file);
    }
    for (const auto& env : app.model().environments) {
      if (selection.HasEnv(app.name, env.name.value)) other_env_files.erase(env.file);
    }
    for (const Diagnostic& d : app.diagnostics) {
      if (!other_env_files.contains(d.file)) out.push_back(d);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void WriteDiagnosticsJson(rapidjson::Writer<rapidjson::StringBuffer>& w,
                          const std::vector<Diagnostic>& diagnostics) {
  w.Key("diagnostics");
  w.StartArray();
  for (const Diagnostic& d : diagnostics) {
    w.StartObject();
    w.Key("severity");
    w.String(d.severity == Severity::kError ? "error" : "warning");
    w.Key("file");
    w.String(d.file);
    w.Key("line");
    w.Int(d.line);
    w.Key("column");
    w.Int(d.column);
    w.Key("field");
    w.String(d.field);
    w.Key("message");
    w.String(d.message);
    w.EndObject();
  }
  w.EndArray();
}

std::string Summary(const std::vector<Diagnostic>& diagnostics, int apps, int invalid) {
  int errors = 0, warnings = 0;
  for (const Diagnostic& d : diagnostics) (d.severity == Severity::kError ? errors : warnings)++;
  auto plural = [](int n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
  };
  std::string out =
      plural(apps, "app") + ": " + plural(errors, "error") + ", " + plural(warnings, "warning");
  if (invalid > 0) out += "; " + std::to_string(invalid) + " invalid";
  return out;
}

}  // namespace

int RunValidate(const ManifestFlags& flags, std::ostream& out, std::ostream& err) {
  Repository repo;
  Selection selection;
  if (int code = Prepare(flags, err, &repo, &selection); code != 0) return code;
  std::vector<Diagnostic> diagnostics = Selected(repo, selection);
  bool errors = manifest::HasErrors(diagnostics);
  int apps = 0, invalid = 0;
  for (const AppResult& app : repo.apps) {
    if (!selection.HasApp(app.name)) continue;
    ++apps;
    invalid += app.valid ? 0 : 1;
  }
  if (flags.output == "json") {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("valid");
    w.Bool(!errors);
    w.Key("apps");
    w.StartArray();
    for (const AppResult& app : repo.apps) {
      if (!selection.HasApp(app.name)) continue;
      w.StartObject();
      w.Key("name");
      w.String(app.name);
      w.Key("valid");
      w.Bool(app.valid);
      w.Key("environments");
      w.StartArray();
      for (const auto& env : app.model().environments) {
        if (selection.HasEnv(app.name, env.name.value)) w.String(env.name.value);
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    WriteDiagnosticsJson(w, diagnostics);
    w.EndObject();
    out << buffer.GetString() << "\n";
  } else {
    for (const Diagnostic& d : diagnostics) out << d.ToString() << "\n";
    err << "pagoda: " << Summary(diagnostics, apps, invalid) << "\n";
  }
  return errors ? 1 : 0;
}

int RunRender(const ManifestFlags& flags, std::ostream& out, std::ostream& err) {
  Repository repo;
  Selection selection;
  if (int code = Prepare(flags, err, &repo, &selection); code != 0) return code;
  std::vector<Diagnostic> diagnostics = Selected(repo, selection);
  manifest::RenderOptions options;
  options.commit = flags.commit;
  std::vector<manifest::Object> objects;
  bool failed = manifest::HasErrors(diagnostics);
  for (const AppResult& app : repo.apps) {
    if (!selection.HasApp(app.name) || !app.valid) continue;
    Result<manifest::RenderedApp> rendered = manifest::RenderApp(app.model(), options);
    if (!rendered.ok()) {
      err << "pagoda: app " << app.name << ": " << rendered.status().message() << "\n";
      failed = true;
      continue;
    }
    for (const manifest::RenderedCluster& cluster : rendered->clusters) {
      bool any = false;
      for (const auto& env : rendered->environments) {
        any = any || (env.cluster == cluster.cluster && selection.HasEnv(app.name, env.env));
      }
      if (!any) continue;
      objects.insert(objects.end(), cluster.objects.begin(), cluster.objects.end());
      for (const auto& env : rendered->environments) {
        if (env.cluster != cluster.cluster || !selection.HasEnv(app.name, env.env)) continue;
        objects.insert(objects.end(), env.objects.begin(), env.objects.end());
      }
    }
  }
  if (flags.output == "json") {
    out << manifest::ToJsonList(objects);
    if (!diagnostics.empty()) {
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
      w.StartObject();
      WriteDiagnosticsJson(w, diagnostics);
      w.EndObject();
      err << buffer.GetString() << "\n";
    }
  } else {
    out << manifest::ToYaml(objects);
    for (const Diagnostic& d : diagnostics) err << d.ToString() << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace pagoda::cli

// A private copy of examples/repo for one test: its apps renamed with a
// unique suffix, so that tests running at the same time against the one
// cluster never share a namespace. Removed, with its namespaces, at the end.
#pragma once

#include <string>
#include <vector>

namespace pagoda::testing {

class ExampleRepo {
 public:
  ExampleRepo();
  ~ExampleRepo();
  ExampleRepo(const ExampleRepo&) = delete;
  ExampleRepo& operator=(const ExampleRepo&) = delete;

  const std::string& dir() const { return dir_; }
  // The name app `example` ("shop-web", "orders") has in this copy.
  std::string App(const std::string& example) const { return example + "-" + suffix_; }
  std::vector<std::string> Apps() const { return {App("orders"), App("shop-web")}; }

  // Paths are relative to the app's folder: Write("shop-web", "envs/x.yaml", ...).
  void Write(const std::string& example, const std::string& path, const std::string& content);
  void Remove(const std::string& example, const std::string& path);
  // Makes every release go straight through: no holds after a batch and no
  // waits between batches (examples/repo has both, for the demo).
  void ReleaseWithoutHolds();
  // Replaces the first occurrence of `from`; fails the test when there is none.
  void Edit(const std::string& example, const std::string& path, const std::string& from,
            const std::string& to);

 private:
  std::string Path(const std::string& example, const std::string& path) const;
  std::string dir_;
  std::string suffix_;
};

}  // namespace pagoda::testing

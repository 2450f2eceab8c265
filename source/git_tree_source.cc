// A manifest::FileSource over one tree of the bare clone: blobs are read from
// the object database, never from a working tree.
#include "source/git_tree_source.h"

#include <utility>
#include <vector>

#include "source/git_internal.h"

namespace pagoda::source::git {
namespace {

using Tree = Owned<git_tree, git_tree_free>;
using TreeEntry = Owned<git_tree_entry, git_tree_entry_free>;

class TreeSource : public manifest::FileSource {
 public:
  TreeSource(std::shared_ptr<Repo> repo, const git_oid& root)
      : repo_(std::move(repo)), root_(root) {}

  Result<manifest::Listing> List(std::string_view dir,
                                 const manifest::ListLimits& limits) const override {
    std::lock_guard lock(repo_->mu);
    Tree root;
    if (int rc = git_tree_lookup(root.out(), repo_->repo, &root_); rc < 0) {
      return Error(rc, "read tree " + OidHex(root_));
    }
    Owned<git_odb, git_odb_free> odb;
    if (int rc = git_repository_odb(odb.out(), repo_->repo); rc < 0) return Error(rc, "open odb");
    manifest::Listing listing;
    if (dir.empty()) {
      PAGODA_RETURN_IF_ERROR(Walk(root.p, "", odb.p, limits, 0, &listing));
      return listing;
    }
    TreeEntry entry;
    std::string path(dir);
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (git_tree_entry_bypath(entry.out(), root.p, path.c_str()) < 0 ||
        git_tree_entry_type(entry.p) != GIT_OBJECT_TREE) {
      return Status::NotFound(std::string(dir) + ": no such directory");
    }
    Tree sub;
    if (int rc = git_tree_lookup(sub.out(), repo_->repo, git_tree_entry_id(entry.p)); rc < 0) {
      return Error(rc, "read tree of " + path);
    }
    PAGODA_RETURN_IF_ERROR(Walk(sub.p, path, odb.p, limits, 0, &listing));
    return listing;
  }

  // The tree's own id: Git changes it whenever anything below changes. The
  // parent tree is kept from one call to the next: a load asks for every
  // folder under apps/ in turn.
  std::string TreeId(std::string_view dir) const override {
    std::lock_guard lock(repo_->mu);
    if (dir.empty()) return OidHex(root_);
    const size_t slash = dir.rfind('/');
    const std::string parent(slash == std::string_view::npos ? "" : dir.substr(0, slash));
    const std::string name(slash == std::string_view::npos ? dir : dir.substr(slash + 1));
    if (!parent_ || parent != parent_path_) {
      parent_.reset();
      parent_path_ = parent;
      Tree root;
      if (git_tree_lookup(root.out(), repo_->repo, &root_) < 0) return "";
      git_tree* found = nullptr;
      TreeEntry entry;
      if (parent.empty()) {
        std::swap(found, root.p);
      } else if (git_tree_entry_bypath(entry.out(), root.p, parent.c_str()) < 0 ||
                 git_tree_entry_type(entry.p) != GIT_OBJECT_TREE ||
                 git_tree_lookup(&found, repo_->repo, git_tree_entry_id(entry.p)) < 0) {
        return "";
      }
      parent_.reset(found);
    }
    const git_tree_entry* entry = git_tree_entry_byname(parent_.get(), name.c_str());
    if (entry == nullptr || git_tree_entry_type(entry) != GIT_OBJECT_TREE) return "";
    return OidHex(*git_tree_entry_id(entry));
  }

  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) const override {
    std::string segments = "/" + std::string(path) + "/";
    if (path.empty() || path.front() == '/' || segments.find("/../") != std::string::npos ||
        segments.find("/./") != std::string::npos || segments.find("//") != std::string::npos) {
      return Status::InvalidArgument(std::string(path) + ": not a path inside the repository");
    }
    std::lock_guard lock(repo_->mu);
    Tree root;
    if (int rc = git_tree_lookup(root.out(), repo_->repo, &root_); rc < 0) {
      return Error(rc, "read tree " + OidHex(root_));
    }
    TreeEntry entry;
    std::string p(path);
    if (int rc = git_tree_entry_bypath(entry.out(), root.p, p.c_str()); rc < 0) {
      if (rc == GIT_ENOTFOUND) return Status::NotFound(p + ": no such file");
      return Error(rc, "read " + p);
    }
    switch (git_tree_entry_filemode(entry.p)) {
      case GIT_FILEMODE_BLOB:
      case GIT_FILEMODE_BLOB_EXECUTABLE:
        break;
      case GIT_FILEMODE_LINK:
        return Status::PermissionDenied(p + ": a symlink; pagoda does not follow symlinks in Git");
      case GIT_FILEMODE_TREE:
        return Status::InvalidArgument(p + ": not a regular file");
      default:
        return Status::NotFound(p + ": a submodule, not a file");
    }
    const git_oid* id = git_tree_entry_id(entry.p);
    git_odb* odb = nullptr;
    if (int rc = git_repository_odb(&odb, repo_->repo); rc < 0) return Error(rc, "open odb");
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    int rc = git_odb_read_header(&size, &type, odb, id);
    git_odb_free(odb);
    if (rc < 0) return Error(rc, "read " + p);
    if (size > max_bytes) {
      return Status::InvalidArgument(p + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    Owned<git_blob, git_blob_free> blob;
    if (rc = git_blob_lookup(blob.out(), repo_->repo, id); rc < 0) return Error(rc, "read " + p);
    const char* data = static_cast<const char*>(git_blob_rawcontent(blob.p));
    return std::string(data, static_cast<size_t>(git_blob_rawsize(blob.p)));
  }

 private:
  // REQUIRES: repo_->mu held.
  Status Walk(const git_tree* tree, const std::string& dir, git_odb* odb,
              const manifest::ListLimits& limits, int depth, manifest::Listing* out) const {
    size_t count = git_tree_entrycount(tree);
    for (size_t i = 0; i < count && !out->truncated; ++i) {
      const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
      std::string rel =
          dir.empty() ? git_tree_entry_name(entry) : dir + "/" + git_tree_entry_name(entry);
      switch (git_tree_entry_filemode(entry)) {
        case GIT_FILEMODE_TREE: {
          if (depth >= limits.max_depth) {
            out->directories.push_back(std::move(rel));
            out->directory_trees.push_back(OidHex(*git_tree_entry_id(entry)));
            break;
          }
          Tree sub;
          if (int rc = git_tree_lookup(sub.out(), repo_->repo, git_tree_entry_id(entry)); rc < 0) {
            return Error(rc, "read tree of " + rel);
          }
          PAGODA_RETURN_IF_ERROR(Walk(sub.p, rel, odb, limits, depth + 1, out));
          break;
        }
        case GIT_FILEMODE_BLOB:
        case GIT_FILEMODE_BLOB_EXECUTABLE:
        case GIT_FILEMODE_LINK: {  // listed like a file; reading it is refused
          if (out->files.size() >= limits.max_files) {
            out->truncated = true;
            break;
          }
          // The header alone: the size without inflating the blob.
          size_t size = 0;
          git_object_t type = GIT_OBJECT_INVALID;
          if (int rc = git_odb_read_header(&size, &type, odb, git_tree_entry_id(entry)); rc < 0) {
            return Error(rc, "read " + rel);
          }
          out->files.push_back({std::move(rel), size});
          break;
        }
        default:  // submodules: not part of this repository's content
          break;
      }
    }
    return Status::Ok();
  }

  std::shared_ptr<Repo> repo_;
  mutable std::unique_ptr<git_tree, decltype(&git_tree_free)> parent_{nullptr, git_tree_free};
  mutable std::string parent_path_;  // parent_'s, of the last TreeId(); under repo_->mu
  git_oid root_;
};

}  // namespace

std::unique_ptr<manifest::FileSource> NewTreeSource(std::shared_ptr<Repo> repo,
                                                    const git_oid& tree) {
  return std::make_unique<TreeSource>(std::move(repo), tree);
}

}  // namespace pagoda::source::git

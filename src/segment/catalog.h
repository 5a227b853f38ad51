// Catalog: the collections of one data directory, by name — create, open at start-up, list,
// describe, drop. The server owns one; every API call resolves its collection here.
//
// On disk: <data_dir>/collections/<name>/ (see collection.h). A drop first renames the directory to
// <data_dir>/trash/<name>-<n> (atomic: a crash never leaves half a collection under its name), then
// removes it.
//
// Thread-safety: every method may be called from any thread. Lookups take a shared lock for the
// map only; a caller gets a shared_ptr, so a collection being dropped stays valid for queries that
// already hold it (they finish; new lookups get NOT_FOUND).
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "segment/collection.h"

namespace vecstream {

class Catalog {
 public:
  /// Opens every collection under data_dir (recovering each). A collection that fails to open
  /// fails the whole call with its name in the message: the server must not start half-blind.
  static Result<std::unique_ptr<Catalog>> open(const std::string& data_dir, bool background = true);
  ~Catalog();

  Result<std::shared_ptr<Collection>> create(const CollectionConfig& config);
  Result<std::shared_ptr<Collection>> get(const std::string& name) const;
  std::vector<std::string> list() const;
  Status drop(const std::string& name);
  /// Checkpoints and closes every collection (graceful shutdown).
  Status close();

  const std::string& data_dir() const { return dir_; }

 private:
  explicit Catalog(std::string dir, bool background) : dir_(std::move(dir)), background_(background) {}
  std::string collection_dir(const std::string& name) const;

  const std::string dir_;
  const bool background_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Collection>> collections_;
  uint64_t drops_ = 0;
};

}  // namespace vecstream

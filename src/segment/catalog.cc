#include "segment/catalog.h"

#include <cstdio>
#include <filesystem>
#include <mutex>

#include "storage/fs.h"

namespace vecstream {

Result<std::unique_ptr<Catalog>> Catalog::open(const std::string& data_dir, bool background) {
  std::unique_ptr<Catalog> c(new Catalog(data_dir, background));
  VS_RETURN_IF_ERROR(make_dirs(data_dir + "/collections"));
  (void)remove_all(data_dir + "/trash");  // drops interrupted by a crash
  auto names = list_dir(data_dir + "/collections");
  if (!names.is_ok()) return names.status();
  for (const std::string& name : *names) {
    if (!check_collection_name(name).is_ok()) continue;  // not ours (e.g. a stray temp file)
    auto coll = Collection::open(c->collection_dir(name), background);
    if (!coll.is_ok()) {
      return Status(coll.status().code(), "collection " + name + ": " + coll.status().message());
    }
    c->collections_[name] = std::shared_ptr<Collection>(std::move(*coll));
  }
  return c;
}

Catalog::~Catalog() = default;

std::string Catalog::collection_dir(const std::string& name) const {
  return dir_ + "/collections/" + name;
}

Result<std::shared_ptr<Collection>> Catalog::create(const CollectionConfig& config) {
  VS_RETURN_IF_ERROR(check_collection_name(config.name));
  std::unique_lock lk(mu_);
  if (collections_.count(config.name)) {
    return Status::already_exists("collection " + config.name + " exists");
  }
  auto coll = Collection::create(collection_dir(config.name), config);
  if (!coll.is_ok()) return coll.status();
  auto shared = std::shared_ptr<Collection>(std::move(*coll));
  collections_[config.name] = shared;
  return shared;
}

Result<std::shared_ptr<Collection>> Catalog::get(const std::string& name) const {
  std::shared_lock lk(mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) return Status::not_found("no collection named \"" + name + "\"");
  return it->second;
}

std::vector<std::string> Catalog::list() const {
  std::shared_lock lk(mu_);
  std::vector<std::string> out;
  for (const auto& [name, c] : collections_) out.push_back(name);
  return out;
}

Status Catalog::drop(const std::string& name) {
  std::shared_ptr<Collection> victim;
  std::string trash;
  {
    std::unique_lock lk(mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return Status::not_found("no collection named \"" + name + "\"");
    victim = std::move(it->second);
    collections_.erase(it);
    victim->stop();  // no checkpoints into a directory about to go
    trash = dir_ + "/trash/" + name + "-" + std::to_string(++drops_);
  }
  VS_RETURN_IF_ERROR(make_dirs(dir_ + "/trash"));
  std::error_code ec;
  std::filesystem::rename(collection_dir(name), trash, ec);
  if (ec) return Status::io_error("drop " + name + ": " + ec.message());
  VS_RETURN_IF_ERROR(fsync_dir(dir_ + "/collections"));
  // Queries holding the collection finish on the renamed files; the last one frees it.
  victim.reset();
  return remove_all(trash);
}

Status Catalog::close() {
  std::unique_lock lk(mu_);
  Status first = Status::ok();
  for (auto& [name, c] : collections_) {
    Status st = c->close();
    if (!st.is_ok() && first.is_ok()) first = st;
  }
  return first;
}

}  // namespace vecstream

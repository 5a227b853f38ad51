#include "segment/collection.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <filesystem>

#include "storage/fs.h"
#include "storage/manifest.h"

namespace vecstream {

namespace {

constexpr char kConfigFile[] = "collection.json";

Status bad_key(const std::string& key, const std::string& what) {
  return Status::invalid_argument("collection." + key + ": " + what);
}

template <typename T>
Status read_uint(const nlohmann::json& j, const char* key, T lo, T hi, T* out) {
  if (!j.contains(key)) return Status::ok();
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<uint64_t>() < lo ||
      v.get<uint64_t>() > hi) {
    return bad_key(key, "must be an integer in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  }
  *out = static_cast<T>(v.get<uint64_t>());
  return Status::ok();
}

}  // namespace

Status check_collection_name(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return Status::invalid_argument("collection name must have 1 to 64 characters");
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return Status::invalid_argument("collection name \"" + name +
                                      "\": only letters, digits, '_' and '-' are allowed");
    }
  }
  return Status::ok();
}

Result<CollectionConfig> CollectionConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Status::invalid_argument("collection: configuration must be an object");
  static const char* kKeys[] = {"name", "dim", "metric", "shards", "index", "seal_rows",
                                "seal_age_ms", "fsync", "fsync_interval_ms",
                                "checkpoint_wal_bytes", "checkpoint_interval_ms",
                                "compact_deleted_ratio", "seal_deleted_ratio", "max_segments",
                                "background_priority"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKeys) known = known || it.key() == k;
    if (!known) return bad_key(it.key(), "unknown key");
  }
  CollectionConfig c;
  if (!j.contains("name") || !j["name"].is_string()) return bad_key("name", "required string");
  c.name = j["name"].get<std::string>();
  VS_RETURN_IF_ERROR(check_collection_name(c.name));
  if (!j.contains("dim")) return bad_key("dim", "required");
  VS_RETURN_IF_ERROR(read_uint<size_t>(j, "dim", 1, 65536, &c.dim));
  if (j.contains("metric")) {
    if (!j["metric"].is_string()) return bad_key("metric", "must be a string");
    auto m = parse_metric(j["metric"].get<std::string>());
    if (!m) return bad_key("metric", "unknown metric \"" + j["metric"].get<std::string>() + "\"");
    c.metric = *m;
  }
  VS_RETURN_IF_ERROR(read_uint<size_t>(j, "shards", 1, 1024, &c.shards));
  if (j.contains("index")) {
    auto spec = IndexSpec::from_json(j["index"]);
    if (!spec.is_ok()) return spec.status();
    c.index = *spec;
  }
  ShardOptions& s = c.shard;
  s.seal_rows = default_seal_rows(c.dim);
  VS_RETURN_IF_ERROR(read_uint<size_t>(j, "seal_rows", 16, size_t{1} << 26, &s.seal_rows));
  VS_RETURN_IF_ERROR(read_uint<uint32_t>(j, "seal_age_ms", 0, 86400000u, &s.seal_age_ms));
  VS_RETURN_IF_ERROR(read_uint<uint32_t>(j, "fsync_interval_ms", 1, 60000u, &s.fsync_interval_ms));
  VS_RETURN_IF_ERROR(read_uint<uint64_t>(j, "checkpoint_wal_bytes", 1 << 16, uint64_t{1} << 40,
                                         &s.checkpoint_wal_bytes));
  VS_RETURN_IF_ERROR(read_uint<uint32_t>(j, "checkpoint_interval_ms", 0, 86400000u,
                                         &s.checkpoint_interval_ms));
  VS_RETURN_IF_ERROR(read_uint<size_t>(j, "max_segments", 1, 1024, &s.max_segments));
  if (j.contains("fsync")) {
    if (!j["fsync"].is_string()) return bad_key("fsync", "must be a string");
    auto p = parse_fsync_policy(j["fsync"].get<std::string>());
    if (!p.is_ok()) return bad_key("fsync", p.status().message());
    s.fsync = *p;
  }
  if (j.contains("background_priority")) {
    if (!j["background_priority"].is_string()) return bad_key("background_priority", "must be a string");
    auto p = parse_thread_priority(j["background_priority"].get<std::string>());
    if (!p.is_ok()) return bad_key("background_priority", p.status().message());
    s.background_priority = *p;
  }
  if (j.contains("compact_deleted_ratio")) {
    const auto& v = j["compact_deleted_ratio"];
    if (!v.is_number() || v.get<double>() <= 0.0 || v.get<double>() > 1.0) {
      return bad_key("compact_deleted_ratio", "must be a number in (0, 1]");
    }
    s.compact_deleted_ratio = v.get<double>();
  }
  if (j.contains("seal_deleted_ratio")) {
    const auto& v = j["seal_deleted_ratio"];
    if (!v.is_number() || v.get<double>() <= 0.0 || v.get<double>() > 1.0) {
      return bad_key("seal_deleted_ratio", "must be a number in (0, 1]");
    }
    s.seal_deleted_ratio = v.get<double>();
  }
  return c;
}

nlohmann::json CollectionConfig::to_json() const {
  const char* fsync = shard.fsync == FsyncPolicy::kAlways     ? "always"
                      : shard.fsync == FsyncPolicy::kInterval ? "interval"
                                                              : "none";
  return {{"name", name},
          {"dim", dim},
          {"metric", std::string(metric_name(metric))},
          {"shards", shards},
          {"index", index.to_json()},
          {"seal_rows", shard.seal_rows},
          {"seal_age_ms", shard.seal_age_ms},
          {"fsync", fsync},
          {"fsync_interval_ms", shard.fsync_interval_ms},
          {"checkpoint_wal_bytes", shard.checkpoint_wal_bytes},
          {"checkpoint_interval_ms", shard.checkpoint_interval_ms},
          {"compact_deleted_ratio", shard.compact_deleted_ratio},
          {"seal_deleted_ratio", shard.seal_deleted_ratio},
          {"max_segments", shard.max_segments},
          {"background_priority", std::string(thread_priority_name(shard.background_priority))}};
}

Result<std::unique_ptr<Collection>> Collection::create(const std::string& dir,
                                                       const CollectionConfig& config) {
  VS_RETURN_IF_ERROR(check_collection_name(config.name));
  if (config.dim == 0) return Status::invalid_argument("collection: dim must be positive");
  if (config.shards == 0) return Status::invalid_argument("collection: shards must be positive");
  if (path_exists(dir + "/" + kConfigFile)) {
    return Status::already_exists("a collection exists in " + dir);
  }
  VS_RETURN_IF_ERROR(make_dirs(dir));
  VS_RETURN_IF_ERROR(write_file_atomic(dir + "/" + kConfigFile, config.to_json().dump(2)));
  return open_shards(dir, config);
}

Result<std::unique_ptr<Collection>> Collection::open(const std::string& dir, bool background) {
  auto text = read_file(dir + "/" + kConfigFile);
  if (!text.is_ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::corruption(dir + "/" + kConfigFile + ": not JSON");
  auto config = CollectionConfig::from_json(j);
  if (!config.is_ok()) {
    return Status::corruption(dir + "/" + kConfigFile + ": " + config.status().message());
  }
  config->shard.background = background;
  return open_shards(dir, std::move(*config));
}

Result<std::unique_ptr<Collection>> Collection::open_shards(std::string dir,
                                                            CollectionConfig config) {
  std::unique_ptr<Collection> c(new Collection(std::move(dir), std::move(config)));
  c->instance_ = std::random_device{}() * 0x9e3779b97f4a7c15ull ^
                 static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (size_t i = 0; i < c->config_.shards; ++i) {
    ShardOptions o = c->config_.shard;
    o.dir = c->dir_ + "/shard-" + std::to_string(i);
    o.dim = c->config_.dim;
    o.metric = c->config_.metric;
    o.index = c->config_.index;
    auto s = Shard::open(o);
    if (!s.is_ok()) return s.status();
    c->shards_.push_back(std::move(*s));
  }
  return c;
}

Result<WriteAck> Collection::upsert(std::vector<PointWrite> points) {
  if (shards_.size() == 1) return shards_[0]->upsert(std::move(points));
  std::vector<WriteBatch> parts(shards_.size());
  for (PointWrite& p : points) parts[shard_of(p.id)].points.push_back(std::move(p));
  // Validate every part before any is applied: one bad point changes nothing in any shard.
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].points.empty()) VS_RETURN_IF_ERROR(shards_[i]->validate(&parts[i]));
  }
  WriteAck total;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].points.empty()) continue;
    auto ack = shards_[i]->write(std::move(parts[i]));
    if (!ack.is_ok()) return ack.status();
    total.seq = std::max(total.seq, ack->seq);
    total.applied += ack->applied;
  }
  return total;
}

Result<WriteAck> Collection::remove(const std::vector<PointId>& ids) {
  std::vector<std::vector<PointId>> parts(shards_.size());
  for (const PointId& id : ids) parts[shard_of(id)].push_back(id);
  WriteAck total;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    auto ack = shards_[i]->remove(parts[i]);
    if (!ack.is_ok()) return ack.status();
    total.seq = std::max(total.seq, ack->seq);
    total.applied += ack->applied;
  }
  return total;
}

Result<WriteAck> Collection::remove_where(const PayloadFilter& filter) {
  WriteAck total;
  for (auto& s : shards_) {
    auto ack = s->remove_where(filter);
    if (!ack.is_ok()) return ack.status();
    total.seq = std::max(total.seq, ack->seq);
    total.applied += ack->applied;
  }
  return total;
}

Status Collection::search(std::span<const float> query, const ShardQuery& q,
                          std::vector<ScoredPoint>* out) const {
  if (shards_.size() == 1) return shards_[0]->search(query, q, out);
  out->clear();
  std::vector<ScoredPoint> part;
  for (const auto& s : shards_) {
    VS_RETURN_IF_ERROR(s->search(query, q, &part));
    for (ScoredPoint& p : part) out->push_back(std::move(p));
  }
  std::sort(out->begin(), out->end(),
            [](const ScoredPoint& a, const ScoredPoint& b) { return a.distance < b.distance; });
  if (out->size() > q.k) out->resize(q.k);
  return Status::ok();
}

uint64_t Collection::write_epoch() const {
  uint64_t e = 0;
  for (const auto& s : shards_) e += s->last_seq();
  return e;
}

Status Collection::search_batch(const std::vector<std::span<const float>>& queries,
                                const ShardQuery& q,
                                std::vector<std::vector<ScoredPoint>>* out) const {
  std::vector<Status> statuses(queries.size());
  out->resize(queries.size());
  search_batch(std::span<const std::span<const float>>(queries), q, *out, statuses);
  for (const Status& s : statuses) VS_RETURN_IF_ERROR(s);
  return Status::ok();
}

void Collection::search_batch(std::span<const std::span<const float>> queries, const ShardQuery& q,
                              std::span<std::vector<ScoredPoint>> outs,
                              std::span<Status> statuses) const {
  if (queries.empty()) return;
  if (shards_.size() == 1) {
    shards_[0]->search_batch(queries, q, outs, statuses);
    return;
  }
  for (size_t i = 0; i < queries.size(); ++i) {
    outs[i].clear();
    statuses[i] = Status::ok();
  }
  std::vector<std::vector<ScoredPoint>> part(queries.size());
  std::vector<Status> part_status(queries.size());
  for (const auto& s : shards_) {
    s->search_batch(queries, q, part, part_status);
    for (size_t i = 0; i < queries.size(); ++i) {
      if (!part_status[i].is_ok()) {
        if (statuses[i].is_ok()) statuses[i] = part_status[i];
        continue;
      }
      for (ScoredPoint& p : part[i]) outs[i].push_back(std::move(p));
    }
  }
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!statuses[i].is_ok()) {
      outs[i].clear();
      continue;
    }
    std::sort(outs[i].begin(), outs[i].end(),
              [](const ScoredPoint& a, const ScoredPoint& b) { return a.distance < b.distance; });
    if (outs[i].size() > q.k) outs[i].resize(q.k);
  }
}

std::optional<PointRecord> Collection::get(const PointId& id) const {
  return shards_[shard_of(id)]->get(id);
}

CollectionStats Collection::stats() const {
  CollectionStats st;
  for (const auto& s : shards_) {
    ShardStats ss = s->stats();
    st.live += ss.live;
    st.deleted += ss.deleted;
    st.segments += ss.segments;
    st.unindexed_rows += ss.unindexed_rows;
    st.memory_bytes += ss.memory_bytes;
    st.wal_bytes += ss.wal_bytes;
    st.shards.push_back(ss);
  }
  return st;
}

Status Collection::checkpoint() {
  for (auto& s : shards_) VS_RETURN_IF_ERROR(s->checkpoint());
  return Status::ok();
}

Status Collection::snapshot(const std::string& out_dir) {
  if (path_exists(out_dir)) return Status::already_exists("snapshot target " + out_dir + " exists");
  VS_RETURN_IF_ERROR(make_dirs(out_dir));
  for (size_t i = 0; i < shards_.size(); ++i) {
    VS_RETURN_IF_ERROR(shards_[i]->snapshot_to(out_dir + "/shard-" + std::to_string(i)));
  }
  // The configuration last: a snapshot without it is visibly incomplete.
  return write_file_atomic(out_dir + "/" + kConfigFile, config_.to_json().dump(2));
}

Status Collection::restore(const std::string& snapshot_dir, const std::string& dir) {
  auto text = read_file(snapshot_dir + "/" + kConfigFile);
  if (!text.is_ok()) {
    return Status::not_found("snapshot " + snapshot_dir + " is incomplete: " + text.status().message());
  }
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::corruption(snapshot_dir + "/" + kConfigFile + ": not JSON");
  auto config = CollectionConfig::from_json(j);
  if (!config.is_ok()) return Status::corruption(snapshot_dir + ": " + config.status().message());
  for (size_t i = 0; i < config->shards; ++i) {
    const std::string data = snapshot_dir + "/shard-" + std::to_string(i) + "/data";
    auto m = read_manifest(data);
    if (!m.is_ok()) return m.status();
    if (!m->has_value()) return Status::corruption(data + ": no MANIFEST");
    for (const std::string& f : (**m).files()) {
      if (!path_exists(data + "/" + f)) return Status::corruption(data + ": missing " + f);
    }
  }
  if (path_exists(dir + "/" + kConfigFile)) {
    return Status::already_exists("a collection exists in " + dir);
  }
  VS_RETURN_IF_ERROR(make_dirs(dir));
  for (size_t i = 0; i < config->shards; ++i) {
    const std::string from = snapshot_dir + "/shard-" + std::to_string(i) + "/data";
    const std::string to = dir + "/shard-" + std::to_string(i) + "/data";
    VS_RETURN_IF_ERROR(make_dirs(to));
    auto names = list_dir(from);
    if (!names.is_ok()) return names.status();
    for (const std::string& n : *names) VS_RETURN_IF_ERROR(link_or_copy(from + "/" + n, to + "/" + n));
    VS_RETURN_IF_ERROR(fsync_dir(to));
  }
  return write_file_atomic(dir + "/" + kConfigFile, *text);
}

void Collection::wait_indexed() const {
  for (const auto& s : shards_) s->wait_indexed();
}

void Collection::stop() {
  for (auto& s : shards_) s->stop();
}

Status Collection::close() {
  for (auto& s : shards_) VS_RETURN_IF_ERROR(s->close());
  return Status::ok();
}

}  // namespace vecstream

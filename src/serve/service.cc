#include "serve/service.h"

#include <algorithm>
#include <cstring>

#include "core/crc32c.h"
#include "core/distance.h"
#include "serve/result_cache.h"

namespace vecstream {

Status authorize(const Principal& p, Role needed, const std::string& collection) {
  if (static_cast<int>(p.role) < static_cast<int>(needed)) {
    static const char* kNames[] = {"", "read", "write", "admin"};
    return Status::permission_denied("key \"" + p.name + "\" may not do this: needs the " +
                                     kNames[static_cast<int>(needed)] + " role");
  }
  if (!collection.empty() && !p.collections.empty() &&
      std::find(p.collections.begin(), p.collections.end(), collection) == p.collections.end()) {
    return Status::permission_denied("key \"" + p.name + "\" may not use collection \"" +
                                     collection + "\"");
  }
  return Status::ok();
}

nlohmann::json CollectionInfo::to_json() const {
  nlohmann::json shards = nlohmann::json::array();
  for (const ShardStats& s : stats.shards) {
    shards.push_back({{"segments", s.segments},
                      {"sealed_segments", s.sealed_segments},
                      {"live", s.live},
                      {"deleted", s.deleted},
                      {"unindexed_rows", s.unindexed_rows},
                      {"last_seq", s.last_seq},
                      {"checkpoint_seq", s.checkpoint_seq},
                      {"wal_bytes", s.wal_bytes},
                      {"memory_bytes", s.memory_bytes},
                      {"compactions", s.compactions},
                      {"checkpoints", s.checkpoints}});
  }
  return {{"config", config.to_json()},
          {"stats",
           {{"live", stats.live},
            {"deleted", stats.deleted},
            {"segments", stats.segments},
            {"unindexed_rows", stats.unindexed_rows},
            {"memory_bytes", stats.memory_bytes},
            {"wal_bytes", stats.wal_bytes},
            {"shards", shards}}}};
}

struct Service::Impl {
  ResultCache* cache = nullptr;
  MetricsRegistry* metrics = nullptr;
};

Service::Service(Catalog& catalog, ServiceOptions options, MetricsRegistry* metrics,
                 ResultCache* cache)
    : catalog_(catalog), options_(std::move(options)), impl_(new Impl) {
  impl_->cache = cache;
  impl_->metrics = metrics;
}

Service::~Service() = default;

namespace {

CollectionInfo info_of(const Collection& c) { return CollectionInfo{c.config(), c.stats()}; }

// Cache key: everything that decides the answer, including the collection's identity and write
// epoch, hashed (the vector makes raw keys long) but with the readable parts in clear.
std::string cache_key(const Collection& c, const SearchRequest& r) {
  std::string blob;
  blob.reserve(r.vector.size() * 4 + 64);
  blob.append(reinterpret_cast<const char*>(r.vector.data()), r.vector.size() * sizeof(float));
  const std::string filter = r.filter ? r.filter->to_string() : std::string();
  blob += filter;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "|k=%zu|ef=%zu|np=%zu|rr=%g|x=%d|p=%d|v=%d", r.k, r.ef, r.nprobe,
                static_cast<double>(r.rerank_factor), r.exact, r.with_payload, r.with_vector);
  blob += buf;
  const uint32_t h1 = crc32c(blob.data(), blob.size());
  const uint32_t h2 = crc32c_extend(0x9e3779b9u, blob.data(), blob.size());
  std::snprintf(buf, sizeof(buf), "vs:%s:%016llx:%llu:%08x%08x:%zu", c.config().name.c_str(),
                static_cast<unsigned long long>(c.instance()),
                static_cast<unsigned long long>(c.write_epoch()), h1, h2, blob.size());
  return buf;
}

std::string encode_response(const SearchResponse& r) {
  nlohmann::json j = nlohmann::json::array();
  for (const ScoredPoint& p : r.points) {
    j.push_back({p.id.to_json(), p.distance, p.payload, p.vector});
  }
  std::vector<uint8_t> bytes = nlohmann::json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

std::optional<SearchResponse> decode_response(const std::string& s) {
  nlohmann::json j = nlohmann::json::from_cbor(s, true, false);
  if (j.is_discarded() || !j.is_array()) return std::nullopt;
  SearchResponse r;
  try {
    for (const auto& e : j) {
      ScoredPoint p;
      auto id = PointId::from_json(e.at(0));
      if (!id.is_ok()) return std::nullopt;
      p.id = std::move(*id);
      p.distance = e.at(1).get<float>();
      p.payload = e.at(2);
      p.vector = e.at(3).get<std::vector<float>>();
      r.points.push_back(std::move(p));
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return r;
}

}  // namespace

Result<CollectionInfo> Service::create_collection(const Principal& p, const nlohmann::json& config) {
  auto cfg = CollectionConfig::from_json(config);
  if (!cfg.is_ok()) return cfg.status();
  VS_RETURN_IF_ERROR(authorize(p, Role::kAdmin, cfg->name));
  if (cfg->dim > options_.limits.max_dim) {
    return Status::invalid_argument("dim " + std::to_string(cfg->dim) + " above the limit " +
                                    std::to_string(options_.limits.max_dim));
  }
  auto c = catalog_.create(*cfg);
  if (!c.is_ok()) return c.status();
  return info_of(**c);
}

Result<std::vector<CollectionInfo>> Service::list_collections(const Principal& p) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kRead, ""));
  std::vector<CollectionInfo> out;
  for (const std::string& name : catalog_.list()) {
    if (!authorize(p, Role::kRead, name).is_ok()) continue;
    auto c = catalog_.get(name);
    if (c.is_ok()) out.push_back(info_of(**c));
  }
  return out;
}

Result<CollectionInfo> Service::describe_collection(const Principal& p, const std::string& name) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kRead, name));
  auto c = catalog_.get(name);
  if (!c.is_ok()) return c.status();
  return info_of(**c);
}

Status Service::drop_collection(const Principal& p, const std::string& name) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kAdmin, name));
  return catalog_.drop(name);
}

Result<WriteAck> Service::upsert(const Principal& p, const std::string& collection,
                                 std::vector<PointWrite> points) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kWrite, collection));
  if (points.size() > options_.limits.max_upsert_points) {
    return Status::resource_exhausted("upsert of " + std::to_string(points.size()) +
                                      " points; at most " +
                                      std::to_string(options_.limits.max_upsert_points));
  }
  auto c = catalog_.get(collection);
  if (!c.is_ok()) return c.status();
  return (*c)->upsert(std::move(points));
}

Result<WriteAck> Service::remove(const Principal& p, const std::string& collection,
                                 const std::vector<PointId>& ids) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kWrite, collection));
  if (ids.empty()) return Status::invalid_argument("no ids to delete");
  if (ids.size() > options_.limits.max_upsert_points) {
    return Status::resource_exhausted("delete of " + std::to_string(ids.size()) + " ids; at most " +
                                      std::to_string(options_.limits.max_upsert_points));
  }
  auto c = catalog_.get(collection);
  if (!c.is_ok()) return c.status();
  return (*c)->remove(ids);
}

Result<WriteAck> Service::remove_where(const Principal& p, const std::string& collection,
                                       const PayloadFilter& filter) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kWrite, collection));
  auto c = catalog_.get(collection);
  if (!c.is_ok()) return c.status();
  return (*c)->remove_where(filter);
}

Result<PointRecord> Service::get(const Principal& p, const std::string& collection,
                                 const PointId& id) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kRead, collection));
  auto c = catalog_.get(collection);
  if (!c.is_ok()) return c.status();
  auto rec = (*c)->get(id);
  if (!rec) return Status::not_found("no point " + id.to_string() + " in " + collection);
  return std::move(*rec);
}

Result<SearchResponse> Service::search(const Principal& p, const SearchRequest& req) {
  const auto start = std::chrono::steady_clock::now();
  VS_RETURN_IF_ERROR(authorize(p, Role::kRead, req.collection));
  const ServiceLimits& lim = options_.limits;
  if (req.k == 0 || req.k > lim.max_k) {
    return Status::invalid_argument("k must be in [1, " + std::to_string(lim.max_k) + "], got " +
                                    std::to_string(req.k));
  }
  if (req.ef > lim.max_ef) {
    return Status::invalid_argument("ef " + std::to_string(req.ef) + " above the limit " +
                                    std::to_string(lim.max_ef));
  }
  if (!(req.rerank_factor >= 0.0f) || req.rerank_factor > 1000.0f) {
    return Status::invalid_argument("rerank_factor must be in [0, 1000]");
  }
  auto c = catalog_.get(req.collection);
  if (!c.is_ok()) return c.status();
  Collection& coll = **c;
  if (req.vector.size() != coll.config().dim) {
    return Status::invalid_argument("query has dimension " + std::to_string(req.vector.size()) +
                                    ", collection " + req.collection + " has " +
                                    std::to_string(coll.config().dim));
  }
  if (!all_finite(req.vector.data(), req.vector.size())) {
    return Status::invalid_argument("query has NaN or infinite values");
  }
  std::string key;
  ResultCache* cache = req.use_cache ? impl_->cache : nullptr;
  if (cache) {
    key = cache_key(coll, req);
    if (auto hit = cache->get(key)) {
      if (auto r = decode_response(*hit)) {
        r->cached = true;
        r->server_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return std::move(*r);
      }
    }
  }
  ShardQuery q;
  q.k = req.k;
  q.ef = req.ef;
  q.nprobe = req.nprobe;
  q.rerank_factor = req.rerank_factor;
  q.filter = req.filter ? &*req.filter : nullptr;
  q.exact = req.exact;
  q.with_payload = req.with_payload;
  q.with_vector = req.with_vector;
  SearchResponse resp;
  VS_RETURN_IF_ERROR(coll.search(req.vector, q, &resp.points));
  if (cache) cache->put(key, encode_response(resp));
  resp.server_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return resp;
}

Result<std::vector<SearchResponse>> Service::search_batch(const Principal& p,
                                                          const std::vector<SearchRequest>& reqs) {
  if (reqs.empty()) return Status::invalid_argument("empty batch of queries");
  if (reqs.size() > options_.limits.max_batch_queries) {
    return Status::resource_exhausted("batch of " + std::to_string(reqs.size()) +
                                      " queries; at most " +
                                      std::to_string(options_.limits.max_batch_queries));
  }
  for (const SearchRequest& r : reqs) {
    if (r.collection != reqs[0].collection) {
      return Status::invalid_argument("every query of a batch must name the same collection");
    }
  }
  std::vector<SearchResponse> out;
  out.reserve(reqs.size());
  for (const SearchRequest& r : reqs) {
    auto one = search(p, r);
    if (!one.is_ok()) return one.status();
    out.push_back(std::move(*one));
  }
  return out;
}

Result<nlohmann::json> Service::stats(const Principal& p) {
  VS_RETURN_IF_ERROR(authorize(p, Role::kRead, ""));
  nlohmann::json j = {{"collections", nlohmann::json::object()}};
  for (const std::string& name : catalog_.list()) {
    if (!authorize(p, Role::kRead, name).is_ok()) continue;
    auto c = catalog_.get(name);
    if (c.is_ok()) j["collections"][name] = info_of(**c).to_json()["stats"];
  }
  if (impl_->cache) {
    CacheStats cs = impl_->cache->stats();
    j["cache"] = {{"hits", cs.hits}, {"misses", cs.misses}, {"entries", cs.entries},
                  {"bytes", cs.bytes}, {"describe", impl_->cache->describe()}};
  }
  return j;
}

}  // namespace vecstream

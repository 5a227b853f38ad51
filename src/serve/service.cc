#include "serve/service.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/crc32c.h"
#include "core/distance.h"
#include "obs/metrics.h"
#include "embed/embedder.h"
#include "serve/query_batcher.h"
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
                      {"compacted_rows", s.compacted_rows},
                      {"compaction_reused_rows", s.compaction_reused_rows},
                      {"writer_indexed_rows", s.writer_indexed_rows},
                      {"maintenance_rescues", s.maintenance_rescues},
                      {"compaction_seconds", s.compaction_seconds},
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

// Metrics of DESIGN.md ("Metrics"), registered once per Service. Any pointer may be null: no
// registry, or a name already taken by an incompatible metric (the Service then goes without it).
struct ServiceMetrics {
  obs::Family<obs::Histogram>* query_seconds = nullptr;
  obs::Family<obs::Counter>* queries = nullptr;
  obs::Family<obs::Counter>* upserted = nullptr;
  obs::Family<obs::Counter>* deleted = nullptr;
  obs::Family<obs::Counter>* errors = nullptr;
  obs::Counter* cache_hits = nullptr;
  obs::Counter* cache_misses = nullptr;
  obs::Histogram* batch_size = nullptr;
};

struct Service::Impl {
  ResultCache* cache = nullptr;
  MetricsRegistry* metrics = nullptr;
  ServiceMetrics m;
  std::vector<std::string> callbacks;  // callback gauges registered by this Service
  std::unique_ptr<QueryBatcher> batcher;

  // Collection stats shared by the callback gauges of one scrape (each gauge would otherwise
  // walk every shard again).
  std::mutex stats_mu;
  std::chrono::steady_clock::time_point stats_at{};
  std::vector<std::pair<std::string, CollectionStats>> stats_cache;

  template <typename T>
  T tally(T r) {
    if (!r.is_ok()) count_error(r.status());
    return r;
  }
  Status tally(Status s) {
    if (!s.is_ok()) count_error(s);
    return s;
  }
  void count_error(const Status& s) {
    if (m.errors) m.errors->with({status_code_name(s.code())}).inc();
  }
  void count_ingress(obs::Family<obs::Counter>* f, const std::string& collection, size_t n) {
    if (f && n > 0) f->with({collection}).inc(n);
  }
};

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


ShardQuery shard_query_of(const SearchRequest& req) {
  ShardQuery q;
  q.k = req.k;
  q.ef = req.ef;
  q.nprobe = req.nprobe;
  q.rerank_factor = req.rerank_factor;
  q.filter = req.filter ? &*req.filter : nullptr;
  q.exact = req.exact;
  q.with_payload = req.with_payload;
  q.with_vector = req.with_vector;
  return q;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Batch sizes 1, 2, 4 ... 1024.
std::vector<double> batch_size_buckets() { return obs::exponential_buckets(1, 2, 11); }

template <typename T>
T* or_null(Result<T*> r) {
  return r.is_ok() ? *r : nullptr;
}

}  // namespace

Service::Service(Catalog& catalog, ServiceOptions options, MetricsRegistry* metrics,
                 ResultCache* cache, Embedder* embedder)
    : catalog_(catalog), options_(std::move(options)), embedder_(embedder), impl_(new Impl) {
  impl_->cache = cache;
  impl_->metrics = metrics;
  if (metrics) register_metrics();
  if (options_.batch_window.count() > 0 && options_.batch_max > 1) {
    QueryBatcherOptions bo;
    bo.window = options_.batch_window;
    bo.max_batch = options_.batch_max;
    bo.max_queue = options_.batch_max_queue;
    bo.wait_when_idle = options_.batch_wait_when_idle;
    impl_->batcher = std::make_unique<QueryBatcher>(bo, impl_->m.batch_size);
  }
}

Service::~Service() {
  // Once unregistered, no scrape can run a callback that reads this Service's catalog.
  for (const std::string& name : impl_->callbacks) (void)impl_->metrics->unregister_callback(name);
}

void Service::register_metrics() {
  MetricsRegistry& r = *impl_->metrics;
  ServiceMetrics& m = impl_->m;
  m.query_seconds = or_null(r.histogram_family(
      "vecstream_query_duration_seconds", "Search latency inside the service, cache hits included",
      {"collection"}));
  m.queries = or_null(r.counter_family("vecstream_queries_total", "Searches answered", {"collection"}));
  m.upserted = or_null(r.counter_family("vecstream_upserted_points_total",
                                        "Points written by upserts (ingress)", {"collection"}));
  m.deleted = or_null(r.counter_family("vecstream_deleted_points_total",
                                       "Points removed by deletes", {"collection"}));
  m.errors = or_null(r.counter_family("vecstream_errors_total",
                                      "Requests answered with an error, by status code", {"kind"}));
  m.cache_hits = or_null(r.counter("vecstream_cache_hits_total", "Searches answered from the result cache"));
  m.cache_misses = or_null(r.counter("vecstream_cache_misses_total",
                                     "Searches the result cache could not answer"));
  m.batch_size = or_null(r.histogram("vecstream_query_batch_size",
                                     "Queries answered by one micro-batch", batch_size_buckets()));

  // Gauges read from the catalog at scrape time, one sample per collection.
  using Pick = double (*)(const CollectionStats&);
  const std::pair<const char*, const char*> names[] = {
      {"vecstream_segments", "Segments (growing and sealed) over all shards"},
      {"vecstream_points", "Live points"},
      {"vecstream_deleted_points", "Tombstoned rows not yet compacted away"},
      {"vecstream_tombstone_ratio", "Tombstoned rows over all stored rows"},
      {"vecstream_wal_bytes", "Bytes of write-ahead log on disk"},
      {"vecstream_unindexed_points", "Rows searched exactly because the index has not reached them"},
      {"vecstream_memory_bytes", "Memory held by segments and indexes"},
  };
  const Pick picks[] = {
      [](const CollectionStats& s) { return static_cast<double>(s.segments); },
      [](const CollectionStats& s) { return static_cast<double>(s.live); },
      [](const CollectionStats& s) { return static_cast<double>(s.deleted); },
      [](const CollectionStats& s) {
        const double rows = static_cast<double>(s.live + s.deleted);
        return rows > 0 ? static_cast<double>(s.deleted) / rows : 0.0;
      },
      [](const CollectionStats& s) { return static_cast<double>(s.wal_bytes); },
      [](const CollectionStats& s) { return static_cast<double>(s.unindexed_rows); },
      [](const CollectionStats& s) { return static_cast<double>(s.memory_bytes); },
  };
  for (size_t i = 0; i < std::size(names); ++i) {
    const Pick pick = picks[i];
    Status st = r.register_callback(obs::MetricType::kGauge, names[i].first, names[i].second,
                                    {"collection"}, [this, pick](obs::CallbackSink& sink) {
                                      for (const auto& [name, s] : collection_stats()) {
                                        sink.add({name}, pick(s));
                                      }
                                    });
    if (st.is_ok()) impl_->callbacks.push_back(names[i].first);
  }
}

std::vector<std::pair<std::string, CollectionStats>> Service::collection_stats() {
  constexpr auto kFresh = std::chrono::milliseconds(100);
  std::lock_guard lk(impl_->stats_mu);
  const auto now = std::chrono::steady_clock::now();
  if (impl_->stats_at == std::chrono::steady_clock::time_point{} || now - impl_->stats_at > kFresh) {
    impl_->stats_cache.clear();
    for (const std::string& name : catalog_.list()) {
      auto c = catalog_.get(name);
      if (c.is_ok()) impl_->stats_cache.emplace_back(name, (*c)->stats());
    }
    impl_->stats_at = now;
  }
  return impl_->stats_cache;
}

const QueryBatcher* Service::batcher() const { return impl_->batcher.get(); }

bool Service::search_never_waits(bool streaming, bool use_cache, bool text) const {
  if (text || (impl_->batcher && !streaming)) return false;
  return !use_cache || !impl_->cache || !impl_->cache->does_io();
}

void Service::record_error(const Status& s) {
  if (!s.is_ok()) impl_->count_error(s);
}

Result<CollectionInfo> Service::create_collection(const Principal& p, const nlohmann::json& config) {
  return impl_->tally([&]() -> Result<CollectionInfo> {
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
  }());
}

Result<std::vector<CollectionInfo>> Service::list_collections(const Principal& p) {
  return impl_->tally([&]() -> Result<std::vector<CollectionInfo>> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kRead, ""));
    std::vector<CollectionInfo> out;
    for (const std::string& name : catalog_.list()) {
      if (!authorize(p, Role::kRead, name).is_ok()) continue;
      auto c = catalog_.get(name);
      if (c.is_ok()) out.push_back(info_of(**c));
    }
    return out;
  }());
}

Result<CollectionInfo> Service::describe_collection(const Principal& p, const std::string& name) {
  return impl_->tally([&]() -> Result<CollectionInfo> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kRead, name));
    auto c = catalog_.get(name);
    if (!c.is_ok()) return c.status();
    return info_of(**c);
  }());
}

Status Service::drop_collection(const Principal& p, const std::string& name) {
  return impl_->tally([&]() -> Status {
    VS_RETURN_IF_ERROR(authorize(p, Role::kAdmin, name));
    return catalog_.drop(name);
  }());
}

Result<WriteAck> Service::upsert(const Principal& p, const std::string& collection,
                                 std::vector<PointWrite> points) {
  return impl_->tally([&]() -> Result<WriteAck> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kWrite, collection));
    if (points.size() > options_.limits.max_upsert_points) {
      return Status::resource_exhausted("upsert of " + std::to_string(points.size()) +
                                        " points; at most " +
                                        std::to_string(options_.limits.max_upsert_points));
    }
    auto c = catalog_.get(collection);
    if (!c.is_ok()) return c.status();
    auto ack = (*c)->upsert(std::move(points));
    if (ack.is_ok()) impl_->count_ingress(impl_->m.upserted, collection, ack->applied);
    return ack;
  }());
}

Result<WriteAck> Service::remove(const Principal& p, const std::string& collection,
                                 const std::vector<PointId>& ids) {
  return impl_->tally([&]() -> Result<WriteAck> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kWrite, collection));
    if (ids.empty()) return Status::invalid_argument("no ids to delete");
    if (ids.size() > options_.limits.max_upsert_points) {
      return Status::resource_exhausted("delete of " + std::to_string(ids.size()) +
                                        " ids; at most " +
                                        std::to_string(options_.limits.max_upsert_points));
    }
    auto c = catalog_.get(collection);
    if (!c.is_ok()) return c.status();
    auto ack = (*c)->remove(ids);
    if (ack.is_ok()) impl_->count_ingress(impl_->m.deleted, collection, ack->applied);
    return ack;
  }());
}

Result<WriteAck> Service::remove_where(const Principal& p, const std::string& collection,
                                       const PayloadFilter& filter) {
  return impl_->tally([&]() -> Result<WriteAck> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kWrite, collection));
    auto c = catalog_.get(collection);
    if (!c.is_ok()) return c.status();
    auto ack = (*c)->remove_where(filter);
    if (ack.is_ok()) impl_->count_ingress(impl_->m.deleted, collection, ack->applied);
    return ack;
  }());
}

Result<PointRecord> Service::get(const Principal& p, const std::string& collection,
                                 const PointId& id) {
  return impl_->tally([&]() -> Result<PointRecord> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kRead, collection));
    auto c = catalog_.get(collection);
    if (!c.is_ok()) return c.status();
    auto rec = (*c)->get(id);
    if (!rec) return Status::not_found("no point " + id.to_string() + " in " + collection);
    return std::move(*rec);
  }());
}

Status Service::check_search(const Principal& p, const SearchRequest& req,
                             const Collection** coll_out, std::shared_ptr<Collection>* hold) {
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
  if (!*hold || (*hold)->config().name != req.collection) {
    auto c = catalog_.get(req.collection);
    if (!c.is_ok()) return c.status();
    *hold = std::move(*c);
  }
  const Collection& coll = **hold;
  if (req.vector.size() != coll.config().dim) {
    return Status::invalid_argument("query has dimension " + std::to_string(req.vector.size()) +
                                    ", collection " + req.collection + " has " +
                                    std::to_string(coll.config().dim));
  }
  if (!all_finite(req.vector.data(), req.vector.size())) {
    return Status::invalid_argument("query has NaN or infinite values");
  }
  *coll_out = &coll;
  return Status::ok();
}

Status Service::embed_query(const SearchRequest& req, SearchRequest* out) {
  if (!req.vector.empty()) return Status::invalid_argument("give \"vector\" or \"text\", not both");
  if (embedder_ == nullptr) {
    return Status::invalid_argument(
        "text queries need an embedder, and this server has none (configuration embedder.kind)");
  }
  auto v = embedder_->embed_one(req.text);
  if (!v.is_ok()) {
    return Status(v.status().code(), "text: " + v.status().message());
  }
  *out = req;
  out->vector = std::move(*v);
  return Status::ok();
}

// Looks the request up in the cache; on a hit fills *resp. *key gets the cache key (empty when
// the request does not use the cache). The key is taken before the search runs: its write epoch
// then covers no write the search may miss, so what is stored under it is never staler than it.
bool Service::cache_lookup(const Collection& coll, const SearchRequest& req, std::string* key,
                           SearchResponse* resp) {
  key->clear();
  ResultCache* cache = req.use_cache ? impl_->cache : nullptr;
  if (!cache) return false;
  *key = cache_key(coll, req);
  if (auto hit = cache->get(*key)) {
    if (auto r = decode_response(*hit)) {
      *resp = std::move(*r);
      resp->cached = true;
      if (impl_->m.cache_hits) impl_->m.cache_hits->inc();
      return true;
    }
  }
  if (impl_->m.cache_misses) impl_->m.cache_misses->inc();
  return false;
}

void Service::observe_query(const std::string& collection, double seconds) {
  if (impl_->m.queries) impl_->m.queries->with({collection}).inc();
  if (impl_->m.query_seconds) impl_->m.query_seconds->with({collection}).observe(seconds);
}

Result<SearchResponse> Service::search(const Principal& p, const SearchRequest& request) {
  return impl_->tally([&]() -> Result<SearchResponse> {
    const auto start = std::chrono::steady_clock::now();
    SearchRequest embedded;
    if (!request.text.empty()) {
      VS_RETURN_IF_ERROR(authorize(p, Role::kRead, request.collection));  // before any work
      VS_RETURN_IF_ERROR(embed_query(request, &embedded));
    }
    const SearchRequest& req = request.text.empty() ? request : embedded;
    const Collection* coll = nullptr;
    std::shared_ptr<Collection> hold;
    VS_RETURN_IF_ERROR(check_search(p, req, &coll, &hold));
    std::string key;
    SearchResponse resp;
    if (!cache_lookup(*coll, req, &key, &resp)) {
      const ShardQuery q = shard_query_of(req);
      if (impl_->batcher && !req.streaming) {
        VS_RETURN_IF_ERROR(impl_->batcher->search(QueryBatcher::group_key(*coll, q), *coll,
                                                  req.vector, q, &resp.points));
      } else {
        VS_RETURN_IF_ERROR(coll->search(req.vector, q, &resp.points));
      }
      if (!key.empty()) impl_->cache->put(key, encode_response(resp));
    }
    resp.server_seconds = seconds_since(start);
    observe_query(req.collection, resp.server_seconds);
    return resp;
  }());
}

Result<std::vector<SearchResponse>> Service::search_batch(const Principal& p,
                                                          const std::vector<SearchRequest>& requests) {
  return impl_->tally([&]() -> Result<std::vector<SearchResponse>> {
    const auto start = std::chrono::steady_clock::now();
    if (requests.empty()) return Status::invalid_argument("empty batch of queries");
    if (requests.size() > options_.limits.max_batch_queries) {
      return Status::resource_exhausted("batch of " + std::to_string(requests.size()) +
                                        " queries; at most " +
                                        std::to_string(options_.limits.max_batch_queries));
    }
    // Text queries get their vectors first (a copy of the batch only when there are any).
    std::vector<SearchRequest> embedded;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].text.empty()) continue;
      if (embedded.empty()) {
        VS_RETURN_IF_ERROR(authorize(p, Role::kRead, requests[0].collection));
        embedded = requests;
      }
      Status st = embed_query(requests[i], &embedded[i]);
      if (!st.is_ok()) return Status(st.code(), "queries[" + std::to_string(i) + "]: " + st.message());
    }
    const std::vector<SearchRequest>& reqs = embedded.empty() ? requests : embedded;
    for (const SearchRequest& r : reqs) {
      if (r.collection != reqs[0].collection) {
        return Status::invalid_argument("every query of a batch must name the same collection");
      }
    }
    // Validate everything first: a bad query fails the batch before any work is done.
    std::shared_ptr<Collection> hold;
    const Collection* coll = nullptr;
    for (const SearchRequest& r : reqs) VS_RETURN_IF_ERROR(check_search(p, r, &coll, &hold));

    // Cache lookups, then one Collection::search_batch per distinct set of knobs for the misses.
    std::vector<SearchResponse> out(reqs.size());
    std::vector<std::string> keys(reqs.size());
    std::vector<std::pair<std::string, size_t>> misses;  // (group key, request index)
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (!cache_lookup(*coll, reqs[i], &keys[i], &out[i])) {
        misses.emplace_back(QueryBatcher::group_key(*coll, shard_query_of(reqs[i])), i);
      }
    }
    std::stable_sort(misses.begin(), misses.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t lo = 0; lo < misses.size();) {
      size_t hi = lo;
      while (hi < misses.size() && misses[hi].first == misses[lo].first) ++hi;
      const ShardQuery q = shard_query_of(reqs[misses[lo].second]);
      std::vector<std::span<const float>> queries;
      for (size_t j = lo; j < hi; ++j) queries.emplace_back(reqs[misses[j].second].vector);
      std::vector<std::vector<ScoredPoint>> results;
      VS_RETURN_IF_ERROR(coll->search_batch(queries, q, &results));
      for (size_t j = lo; j < hi; ++j) {
        const size_t i = misses[j].second;
        out[i].points = std::move(results[j - lo]);
        if (!keys[i].empty()) impl_->cache->put(keys[i], encode_response(out[i]));
      }
      if (impl_->m.batch_size) impl_->m.batch_size->observe(static_cast<double>(hi - lo));
      lo = hi;
    }
    const double seconds = seconds_since(start);
    for (SearchResponse& r : out) {
      r.server_seconds = seconds;
      observe_query(reqs[0].collection, seconds);
    }
    return out;
  }());
}

Result<nlohmann::json> Service::stats(const Principal& p) {
  return impl_->tally([&]() -> Result<nlohmann::json> {
    VS_RETURN_IF_ERROR(authorize(p, Role::kRead, ""));
    nlohmann::json j = {{"collections", nlohmann::json::object()}};
    for (const std::string& name : catalog_.list()) {
      if (!authorize(p, Role::kRead, name).is_ok()) continue;
      auto c = catalog_.get(name);
      if (c.is_ok()) j["collections"][name] = info_of(**c).to_json()["stats"];
    }
    if (impl_->cache) {
      CacheStats cs = impl_->cache->stats();
      j["cache"] = {{"hits", cs.hits},         {"misses", cs.misses}, {"puts", cs.puts},
                    {"evictions", cs.evictions}, {"errors", cs.errors}, {"entries", cs.entries},
                    {"bytes", cs.bytes},       {"describe", impl_->cache->describe()}};
    }
    if (impl_->batcher) {
      QueryBatcherStats bs = impl_->batcher->stats();
      j["batching"] = {{"queries", bs.queries},     {"batches", bs.batches},
                       {"max_batch", bs.max_batch}, {"deduplicated", bs.deduplicated},
                       {"rejected", bs.rejected}};
    }
    return j;
  }());
}

}  // namespace vecstream

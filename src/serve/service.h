// Service: the one transport-neutral implementation of Vecstream's API. The REST server
// (rest_server.h) and the gRPC server (grpc_server.h) only translate their wire formats into these
// calls and map the returned Status through status_map.h; authentication happens at the transport,
// authorisation (roles, per-collection keys) here, so both transports enforce the same rules.
//
// What a call does on top of the Catalog and Collection:
//   - checks the caller's role (read: get/search/list/describe/stats; write: upsert/delete;
//     admin: create/drop) and collection scope;
//   - enforces the limits (k, batch sizes, request points) with INVALID_ARGUMENT /
//     RESOURCE_EXHAUSTED;
//   - searches through the result cache (cache keys include the collection's write epoch, which
//     every acknowledged write bumps, so a cached answer never outlives the data it came from) and
//     the micro-batcher (query_batcher.h) unless the request asks for streaming mode;
//   - records the metrics named in DESIGN.md.
//
// Thread-safety: every method may be called from any thread at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "segment/catalog.h"
#include "segment/payload_filter.h"

namespace vecstream {

class Embedder;


namespace obs {
class MetricsRegistry;
}
using obs::MetricsRegistry;
class ResultCache;
class QueryBatcher;

enum class Role : int { kRead = 1, kWrite = 2, kAdmin = 3 };  // each includes the ones below

/// Who is calling, as established by the transport (API key, client certificate).
struct Principal {
  std::string name = "anonymous";
  Role role = Role::kAdmin;              // a server without keys trusts its callers
  std::vector<std::string> collections;  // empty = every collection
};

struct ServiceLimits {
  size_t max_k = 1000;
  size_t max_batch_queries = 1024;
  size_t max_upsert_points = 10000;
  size_t max_dim = 65536;
  size_t max_ef = 65536;
};

struct ServiceOptions {
  ServiceLimits limits;
  /// Micro-batching: concurrent queries to one collection gathered for up to `batch_window` or
  /// `batch_max` queries, whichever comes first. A zero window turns it off.
  std::chrono::microseconds batch_window{200};
  size_t batch_max = 32;
  /// Queries of one group (collection + knobs) waiting or running at once; one more is
  /// RESOURCE_EXHAUSTED.
  size_t batch_max_queue = 1024;
  /// Whether a query waits the window even when no batch of its group is running (by default it
  /// goes at once then, so an idle server adds no latency; see query_batcher.h).
  bool batch_wait_when_idle = false;
};

struct SearchRequest {
  std::string collection;
  std::vector<float> vector;
  std::string text;  // instead of a vector: embedded by the server's embedder (one or the other)
  size_t k = 10;
  std::optional<PayloadFilter> filter;
  size_t ef = 0;
  size_t nprobe = 0;
  float rerank_factor = 0.0f;
  bool exact = false;
  bool with_payload = false;
  bool with_vector = false;
  bool use_cache = true;
  bool streaming = false;  // bypass micro-batching: answer this query alone, now
};

struct SearchResponse {
  std::vector<ScoredPoint> points;  // closest first; distance per metric.h
  double server_seconds = 0.0;      // time inside the service
  bool cached = false;
};

struct CollectionInfo {
  CollectionConfig config;
  CollectionStats stats;
  nlohmann::json to_json() const;
};

class Service {
 public:
  /// `metrics` and `cache` may be null (no metrics / no cache). Neither is owned; both must
  /// outlive the Service. With `metrics`, the Service registers the metrics of DESIGN.md
  /// ("Metrics"): query latency and counts, ingress, errors by kind, cache hits/misses, batch
  /// sizes, and gauges read from the catalog at scrape time (removed again by the destructor).
  /// `embedder` (may be null, not owned, must outlive the Service) turns the text of text
  /// queries into their vector; without one a text query is INVALID_ARGUMENT.
  Service(Catalog& catalog, ServiceOptions options, MetricsRegistry* metrics, ResultCache* cache,
          Embedder* embedder = nullptr);
  ~Service();

  // ---- collections ----
  Result<CollectionInfo> create_collection(const Principal& p, const nlohmann::json& config);
  Result<std::vector<CollectionInfo>> list_collections(const Principal& p);
  Result<CollectionInfo> describe_collection(const Principal& p, const std::string& name);
  Status drop_collection(const Principal& p, const std::string& name);

  // ---- points ----
  Result<WriteAck> upsert(const Principal& p, const std::string& collection,
                          std::vector<PointWrite> points);
  Result<WriteAck> remove(const Principal& p, const std::string& collection,
                          const std::vector<PointId>& ids);
  Result<WriteAck> remove_where(const Principal& p, const std::string& collection,
                                const PayloadFilter& filter);
  /// NOT_FOUND if the point does not exist.
  Result<PointRecord> get(const Principal& p, const std::string& collection, const PointId& id);

  // ---- search ----
  Result<SearchResponse> search(const Principal& p, const SearchRequest& req);
  /// Every query must name the same collection; answers in request order.
  Result<std::vector<SearchResponse>> search_batch(const Principal& p,
                                                   const std::vector<SearchRequest>& reqs);

  // ---- operations ----
  Result<nlohmann::json> stats(const Principal& p);
  const ServiceOptions& options() const { return options_; }
  Catalog& catalog() { return catalog_; }
  /// The micro-batcher, or null when batching is off.
  const QueryBatcher* batcher() const;
  /// Whether a search with these traits waits on nothing but the CPU: no micro-batch window
  /// (batching off, or a streaming query), no cache that does I/O, no embedder call for text.
  /// A transport may then run it on its own event thread instead of handing it to a worker.
  bool search_never_waits(bool streaming, bool use_cache, bool text) const;
  /// Counts an error answered outside the Service (a transport's UNAUTHENTICATED, a malformed
  /// body) in vecstream_errors_total{kind}, beside the Service's own.
  void record_error(const Status& s);

 private:
  struct Impl;
  void register_metrics();
  /// Every collection's stats, computed at most every 100 ms (for the scrape-time gauges).
  std::vector<std::pair<std::string, CollectionStats>> collection_stats();
  /// Authorises and validates one query; resolves its collection into *hold (kept if it already
  /// names it) and *coll.
  Status check_search(const Principal& p, const SearchRequest& req, const Collection** coll,
                      std::shared_ptr<Collection>* hold);
  /// A text query's vector from the embedder, into *out (a copy of req with the vector set).
  Status embed_query(const SearchRequest& req, SearchRequest* out);
  bool cache_lookup(const Collection& coll, const SearchRequest& req, std::string* key,
                    SearchResponse* resp);
  void observe_query(const std::string& collection, double seconds);

  Catalog& catalog_;
  ServiceOptions options_;
  Embedder* embedder_;
  std::unique_ptr<Impl> impl_;
};

/// Role check shared by the transports' own endpoints (e.g. /metrics needs none).
Status authorize(const Principal& p, Role needed, const std::string& collection);

}  // namespace vecstream

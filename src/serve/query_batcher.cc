// QueryBatcher: leader/follower micro-batching per group key (see query_batcher.h).
#include "serve/query_batcher.h"

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "core/crc32c.h"
#include "obs/metrics.h"

namespace vecstream {

namespace {
constexpr size_t kStripes = 16;
}

// One waiting query; lives on its caller's stack until `done`.
struct QueryBatcher::Member {
  std::span<const float> query;
  std::vector<ScoredPoint>* out;
  Status status;
  bool done = false;  // guarded by the stripe's mutex
};

struct QueryBatcher::Batch {
  std::vector<Member*> members;  // guarded by the stripe's mutex until closed
  bool closed = false;
  std::condition_variable cv;  // "closed" for the leader, "done" for the members
};

struct QueryBatcher::Group {
  size_t pending = 0;  // queries waiting or running
  size_t running = 0;  // batches being answered
  std::shared_ptr<Batch> open;
};

struct QueryBatcher::Stripe {
  std::mutex mu;
  std::unordered_map<std::string, Group> groups;
};

QueryBatcher::QueryBatcher(QueryBatcherOptions options, obs::Histogram* batch_size)
    : options_(options), batch_size_(batch_size), stripes_(std::make_unique<Stripe[]>(kStripes)) {
  options_.max_batch = std::max<size_t>(options_.max_batch, 1);
  options_.max_queue = std::max<size_t>(options_.max_queue, 1);
}

QueryBatcher::~QueryBatcher() = default;

std::string QueryBatcher::group_key(const Collection& c, const ShardQuery& q) {
  char buf[192];
  std::snprintf(buf, sizeof(buf), "%s|%016llx|k=%zu|ef=%zu|np=%zu|rr=%a|x=%d|p=%d|v=%d|",
                c.config().name.c_str(), static_cast<unsigned long long>(c.instance()), q.k, q.ef,
                q.nprobe, static_cast<double>(q.rerank_factor), q.exact, q.with_payload,
                q.with_vector);
  std::string key = buf;
  if (q.filter) key += q.filter->to_string();
  return key;
}

Status QueryBatcher::search(const std::string& key, const Collection& collection,
                            std::span<const float> query, const ShardQuery& q,
                            std::vector<ScoredPoint>* out) {
  Stripe& s = stripes_[std::hash<std::string>{}(key) % kStripes];
  Member me{query, out, Status::ok(), false};
  std::unique_lock lk(s.mu);
  auto git = s.groups.try_emplace(key).first;
  Group& g = git->second;  // node-based map: stays put until erased by its last query
  if (g.pending >= options_.max_queue) {
    ++rejected_;
    return Status::resource_exhausted("query queue of collection " + collection.config().name +
                                      " is full (" + std::to_string(options_.max_queue) +
                                      " queries waiting)");
  }
  ++g.pending;

  if (g.open) {  // follower: join the open batch and sleep until the leader answers
    std::shared_ptr<Batch> b = g.open;
    b->members.push_back(&me);
    if (b->members.size() >= options_.max_batch) {
      g.open.reset();
      b->closed = true;
      b->cv.notify_all();
    }
    b->cv.wait(lk, [&] { return me.done; });
    return me.status;
  }

  // Leader.
  auto b = std::make_shared<Batch>();
  b->members.push_back(&me);
  const bool wait = options_.window.count() > 0 && options_.max_batch > 1 &&
                    (options_.wait_when_idle || g.running > 0);
  if (wait) {
    g.open = b;
    const auto deadline = std::chrono::steady_clock::now() + options_.window;
    b->cv.wait_until(lk, deadline, [&] { return b->closed; });
    if (g.open == b) g.open.reset();
  }
  b->closed = true;
  ++g.running;
  lk.unlock();

  run(*b, collection, q);  // writes every member's *out and status

  lk.lock();
  for (Member* m : b->members) m->done = true;
  --g.running;
  g.pending -= b->members.size();
  if (g.pending == 0) s.groups.erase(git);
  b->cv.notify_all();
  return me.status;
}

void QueryBatcher::run(Batch& batch, const Collection& collection, const ShardQuery& q) {
  const size_t n = batch.members.size();
  // Distinct query vectors; dup[i] is the member whose answer member i shares.
  std::vector<size_t> dup(n);
  std::vector<std::span<const float>> queries;
  std::vector<size_t> slot(n);  // member -> index in `queries`
  {
    std::unordered_multimap<uint32_t, size_t> seen;
    for (size_t i = 0; i < n; ++i) {
      const std::span<const float> v = batch.members[i]->query;
      const uint32_t h = crc32c(v.data(), v.size_bytes());
      dup[i] = i;
      auto [lo, hi] = seen.equal_range(h);
      for (auto it = lo; it != hi; ++it) {
        const std::span<const float> w = batch.members[it->second]->query;
        if (w.size() == v.size() && std::memcmp(w.data(), v.data(), v.size_bytes()) == 0) {
          dup[i] = it->second;
          break;
        }
      }
      if (dup[i] == i) {
        seen.emplace(h, i);
        slot[i] = queries.size();
        queries.push_back(v);
      } else {
        slot[i] = slot[dup[i]];
      }
    }
  }

  std::vector<std::vector<ScoredPoint>> results;
  Status st = collection.search_batch(queries, q, &results);
  if (st.is_ok() && results.size() == queries.size()) {
    for (size_t i = 0; i < n; ++i) {
      Member* m = batch.members[i];
      if (dup[i] == i) {
        *m->out = std::move(results[slot[i]]);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (dup[i] != i) *batch.members[i]->out = *batch.members[dup[i]]->out;
    }
  } else {
    // One bad query must not fail its neighbours: answer each alone.
    for (Member* m : batch.members) m->status = collection.search(m->query, q, m->out);
  }

  ++batches_;
  queries_ += n;
  deduplicated_ += n - queries.size();
  uint64_t prev = max_batch_.load();
  while (prev < n && !max_batch_.compare_exchange_weak(prev, n)) {
  }
  if (batch_size_) batch_size_->observe(static_cast<double>(n));
}

QueryBatcherStats QueryBatcher::stats() const {
  QueryBatcherStats st;
  st.queries = queries_.load();
  st.batches = batches_.load();
  st.max_batch = max_batch_.load();
  st.deduplicated = deduplicated_.load();
  st.rejected = rejected_.load();
  return st;
}

}  // namespace vecstream

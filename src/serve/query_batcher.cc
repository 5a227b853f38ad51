// QueryBatcher: leader/follower micro-batching per group key (see query_batcher.h).
#include "serve/query_batcher.h"

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
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
  bool ready = false;            // the work list below is set (guarded by the stripe's mutex)
  std::condition_variable cv;    // "closed" for the leader; "ready", "finished", "done" for all
  // The work list, written by the leader before `ready`, read-only after it: the distinct query
  // vectors, and for each member the index of the query whose answer it gets.
  std::vector<std::span<const float>> queries;
  std::vector<size_t> slot;
  std::vector<std::vector<ScoredPoint>> results;  // results[i]: written by whoever ran query i
  std::vector<Status> statuses;
  std::atomic<size_t> next{0};  // next query to run
  size_t threads = 1;           // members that take part in answering
  size_t finished = 0;          // queries answered (guarded by the stripe's mutex)
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
  if (options_.max_running == 0) {
    options_.max_running = std::max<size_t>(std::thread::hardware_concurrency(), 1);
  }
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

  if (g.open) {  // follower: join the open batch, help answer it, sleep until it is answered
    std::shared_ptr<Batch> b = g.open;
    b->members.push_back(&me);
    if (b->members.size() >= options_.max_batch) {
      g.open.reset();
      b->closed = true;
      b->cv.notify_all();
    }
    b->cv.wait(lk, [&] { return me.done || b->ready; });
    if (!me.done) work(*b, collection, q, lk);
    b->cv.wait(lk, [&] { return me.done; });
    return me.status;
  }

  // Leader.
  auto b = std::make_shared<Batch>();
  b->members.push_back(&me);
  // Wait only while the group already keeps max_running batches busy: then the engine has no
  // spare core for this query anyway, and the batch gathers company until a running batch ends
  // (or it is full, or the window passes).
  const bool wait = options_.window.count() > 0 && options_.max_batch > 1 &&
                    (options_.wait_when_idle || g.running >= options_.max_running);
  if (wait) {
    g.open = b;
    const auto deadline = std::chrono::steady_clock::now() + options_.window;
    b->cv.wait_until(lk, deadline, [&] {
      return b->closed || (!options_.wait_when_idle && g.running < options_.max_running);
    });
    if (g.open == b) g.open.reset();
  }
  b->closed = true;
  ++g.running;
  lk.unlock();

  const size_t hw = std::max<size_t>(std::thread::hardware_concurrency(), 1);
  b->threads = std::max<size_t>(1, hw / options_.max_running);
  prepare(*b);  // members are fixed now: no one joins a closed batch
  lk.lock();
  b->ready = true;
  b->cv.notify_all();
  work(*b, collection, q, lk);
  b->cv.wait(lk, [&] { return b->finished == b->queries.size(); });
  lk.unlock();

  finish(*b);  // every member's *out and status

  lk.lock();
  for (Member* m : b->members) m->done = true;
  --g.running;
  g.pending -= b->members.size();
  if (g.open) g.open->cv.notify_all();  // a core is free: the gathering batch may go
  if (g.pending == 0) s.groups.erase(git);
  b->cv.notify_all();
  return me.status;
}

void QueryBatcher::prepare(Batch& batch) {
  const size_t n = batch.members.size();
  batch.slot.resize(n);
  std::vector<size_t> first;  // query index -> the member that brought it
  std::unordered_multimap<uint32_t, size_t> seen;  // hash -> query index
  for (size_t i = 0; i < n; ++i) {
    const std::span<const float> v = batch.members[i]->query;
    const uint32_t h = crc32c(v.data(), v.size_bytes());
    size_t slot = batch.queries.size();
    auto [lo, hi] = seen.equal_range(h);
    for (auto it = lo; it != hi; ++it) {
      const std::span<const float> w = batch.queries[it->second];
      if (w.size() == v.size() && std::memcmp(w.data(), v.data(), v.size_bytes()) == 0) {
        slot = it->second;
        break;
      }
    }
    if (slot == batch.queries.size()) {
      seen.emplace(h, slot);
      batch.queries.push_back(v);
    }
    batch.slot[i] = slot;
  }
  batch.results.resize(batch.queries.size());
  batch.statuses.resize(batch.queries.size());
}

void QueryBatcher::work(Batch& batch, const Collection& collection, const ShardQuery& q,
                        std::unique_lock<std::mutex>& lk) {
  // Queries go in chunks, each one Collection::search_batch (exactly scanned rows read once for
  // the chunk) with a status per query (a bad query fails alone). A batch gets the cores its
  // group's share allows (hardware threads / max_running), so with max_running = cores one
  // thread answers the whole batch while other batches use the other cores.
  const size_t nq = batch.queries.size();
  const size_t helpers = std::min(batch.members.size(), batch.threads);
  const size_t chunk = std::max<size_t>(1, (nq + helpers - 1) / helpers);
  lk.unlock();
  size_t done = 0;
  for (;;) {
    const size_t i = batch.next.fetch_add(chunk, std::memory_order_relaxed);
    if (i >= nq) break;
    const size_t n = std::min(chunk, nq - i);
    collection.search_batch(std::span<const std::span<const float>>(batch.queries.data() + i, n), q,
                            std::span<std::vector<ScoredPoint>>(batch.results.data() + i, n),
                            std::span<Status>(batch.statuses.data() + i, n));
    done += n;
  }
  lk.lock();
  batch.finished += done;
  if (done && batch.finished == batch.queries.size()) batch.cv.notify_all();
}

void QueryBatcher::finish(Batch& batch) {
  const size_t n = batch.members.size();
  // The last member of each query takes the result by move, the others copy it.
  std::vector<size_t> last(batch.queries.size(), 0);
  for (size_t i = 0; i < n; ++i) last[batch.slot[i]] = i;
  for (size_t i = 0; i < n; ++i) {
    Member* m = batch.members[i];
    const size_t sl = batch.slot[i];
    m->status = batch.statuses[sl];
    if (last[sl] == i) {
      *m->out = std::move(batch.results[sl]);
    } else {
      *m->out = batch.results[sl];
    }
  }

  ++batches_;
  queries_ += n;
  deduplicated_ += n - batch.queries.size();
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

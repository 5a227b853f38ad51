// RpForestIndex: tree construction (bulk and incremental), removal through the leaf map, and the
// best-first multi-tree search (design in the header).
//
// File body (kind kRpForest, version 1), after index_file.h's header:
//   u64 dim | u32 metric | u64 n_trees | u64 leaf_size | u64 search_k | u64 seed |
//   u64 slots | slots x u64 id | slots x u8 live | u64 slots*dim | slots*dim x f32 vectors |
//   per tree: u64 rng_state | u64 nodes |
//             per node: i32 left | i32 right | f32 bias | u32 plane | u32 n_items | n_items x u32 |
//             u64 planes*dim | planes*dim x f32 unit normals
#include "index/rp_forest_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>

#include "core/distance.h"
#include "core/thread_pool.h"
#include "core/top_k.h"
#include "index/index_file.h"

namespace vecstream {

namespace {

constexpr uint32_t kRpForestVersion = 1;
constexpr size_t kMaxDim = size_t{1} << 16;
constexpr size_t kMaxTrees = 1024;
constexpr size_t kTwoMeansSteps = 32;  // refinement steps of the two split centres
constexpr int kSplitAttempts = 3;      // tries for a split with at most kMaxImbalance on one side
constexpr double kMaxImbalance = 0.95;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Per-thread search scratch, reused across queries and indexes.
struct ForestScratch {
  std::vector<std::pair<float, uint64_t>> queue;  // (priority, tree << 32 | node), max-heap
  std::vector<uint32_t> candidates;
  std::vector<uint32_t> seen;  // slot -> epoch in which it was gathered
  uint32_t epoch = 0;
  std::vector<float> query;
  TopK<Id> heap;
};

ForestScratch& forest_scratch() {
  thread_local ForestScratch s;
  return s;
}

Status check_params(size_t dim, const RpForestParams& p) {
  if (dim == 0 || dim > kMaxDim) return Status::invalid_argument("dimension must be in [1, 65536]");
  if (p.n_trees == 0 || p.n_trees > kMaxTrees) {
    return Status::invalid_argument("n_trees must be in [1, 1024]");
  }
  if (p.leaf_size == 1) return Status::invalid_argument("leaf_size must be at least 2 (0 = automatic)");
  if (p.leaf_size > (size_t{1} << 20)) return Status::invalid_argument("leaf_size above 2^20");
  return Status::ok();
}

size_t resolve_leaf_size(size_t dim, size_t leaf_size) {
  return leaf_size != 0 ? leaf_size : std::clamp<size_t>(dim + 2, 16, 128);
}

}  // namespace

RpForestIndex::RpForestIndex(size_t dim, Metric metric, const RpForestParams& params)
    : dim_(dim),
      metric_(metric),
      params_(params),
      leaf_size_(resolve_leaf_size(dim, params.leaf_size)),
      pool_(std::make_unique<ThreadPool>(params.threads)),
      trees_(params.n_trees) {
  uint64_t seed_state = params.seed;
  for (Tree& t : trees_) {
    t.nodes.emplace_back();  // an empty root leaf
    t.rng_state = splitmix64(seed_state);
  }
}

RpForestIndex::~RpForestIndex() = default;

Result<std::unique_ptr<RpForestIndex>> RpForestIndex::create(size_t dim, Metric metric,
                                                             const RpForestParams& params) {
  VS_RETURN_IF_ERROR(check_params(dim, params));
  return std::unique_ptr<RpForestIndex>(new RpForestIndex(dim, metric, params));
}

size_t RpForestIndex::size() const {
  std::shared_lock lock(mu_);
  return slots_.size();
}

bool RpForestIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return slots_.count(id) != 0;
}

std::string RpForestIndex::describe() const {
  return "rp_forest(trees=" + std::to_string(params_.n_trees) +
         ",leaf=" + std::to_string(leaf_size_) + ")";
}

float RpForestIndex::margin(const Tree& t, const Node& n, const float* x) const {
  return kernels().dot(t.planes.data() + static_cast<size_t>(n.plane) * dim_, x, dim_) + n.bias;
}

// ---------------------------------------------------------------------------------------------
// Slots

uint32_t RpForestIndex::store(Id id, const float* vector) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slot_ids_.size());
    slot_ids_.push_back(0);
    live_.push_back(0);
    vectors_.resize(vectors_.size() + dim_);
    leaf_of_.resize(leaf_of_.size() + trees_.size(), 0);
  }
  std::memcpy(vectors_.data() + static_cast<size_t>(slot) * dim_, vector, dim_ * sizeof(float));
  slot_ids_[slot] = id;
  live_[slot] = 1;
  slots_[id] = slot;
  return slot;
}

void RpForestIndex::unlink(uint32_t slot) {
  for (size_t t = 0; t < trees_.size(); ++t) {
    std::vector<uint32_t>& items = trees_[t].nodes[leaf_of(slot, t)].items;
    auto it = std::find(items.begin(), items.end(), slot);
    if (it != items.end()) {
      *it = items.back();
      items.pop_back();
    }
  }
  slots_.erase(slot_ids_[slot]);
  live_[slot] = 0;
  free_slots_.push_back(slot);
}

// ---------------------------------------------------------------------------------------------
// Trees

void RpForestIndex::split_leaf(size_t tree, uint32_t first) {
  Tree& t = trees_[tree];
  const DistanceKernels& kern = kernels();
  std::vector<uint32_t> stack{first};
  std::vector<float> c0(dim_), c1(dim_), normal(dim_);
  std::vector<uint8_t> side;
  while (!stack.empty()) {
    const uint32_t node = stack.back();
    stack.pop_back();
    std::vector<uint32_t> items = std::move(t.nodes[node].items);
    t.nodes[node].items.clear();
    const size_t m = items.size();
    side.assign(m, 0);
    float bias = 0.0f;
    bool separated = false;
    for (int attempt = 0; attempt < kSplitAttempts && !separated; ++attempt) {
      // Two distinct items, refined by a short 2-means over random items (Annoy's two_means).
      const size_t i = splitmix64(t.rng_state) % m;
      size_t j = splitmix64(t.rng_state) % (m - 1);
      if (j >= i) ++j;
      std::memcpy(c0.data(), vec(items[i]), dim_ * sizeof(float));
      std::memcpy(c1.data(), vec(items[j]), dim_ * sizeof(float));
      float n0 = 1, n1 = 1;
      for (size_t s = 0; s < kTwoMeansSteps; ++s) {
        const float* z = vec(items[splitmix64(t.rng_state) % m]);
        const float d0 = n0 * kern.l2sq(c0.data(), z, dim_);
        const float d1 = n1 * kern.l2sq(c1.data(), z, dim_);
        float* c = d0 < d1 ? c0.data() : c1.data();
        float& cnt = d0 < d1 ? n0 : n1;
        for (size_t k = 0; k < dim_; ++k) c[k] = (c[k] * cnt + z[k]) / (cnt + 1);
        cnt += 1;
      }
      for (size_t k = 0; k < dim_; ++k) normal[k] = c0[k] - c1[k];
      if (!normalize_l2(normal.data(), dim_)) continue;  // the two centres coincide
      bias = 0.0f;
      for (size_t k = 0; k < dim_; ++k) bias -= normal[k] * 0.5f * (c0[k] + c1[k]);
      size_t right = 0;
      for (size_t r = 0; r < m; ++r) {
        side[r] = kern.dot(normal.data(), vec(items[r]), dim_) + bias >= 0.0f;
        right += side[r];
      }
      const double frac = static_cast<double>(right) / static_cast<double>(m);
      separated = frac <= kMaxImbalance && frac >= 1.0 - kMaxImbalance;
    }
    if (!separated) {
      // Unsplittable (duplicates) or persistently lopsided: random halves under a random cut.
      bool ok = false;
      while (!ok) {
        for (size_t k = 0; k < dim_; ++k) {
          const double u = static_cast<double>(splitmix64(t.rng_state) >> 11) * 0x1.0p-53;
          normal[k] = static_cast<float>(u - 0.5);
        }
        ok = normalize_l2(normal.data(), dim_);
      }
      bias = -kern.dot(normal.data(), vec(items[0]), dim_);
      for (size_t r = 0; r < m; ++r) side[r] = static_cast<uint8_t>(r % 2);
    }
    const uint32_t left = static_cast<uint32_t>(t.nodes.size());
    t.nodes.emplace_back();
    t.nodes.emplace_back();
    Node& n = t.nodes[node];
    n.left = static_cast<int32_t>(left);
    n.right = static_cast<int32_t>(left + 1);
    n.bias = bias;
    n.plane = static_cast<uint32_t>(t.planes.size() / dim_);
    t.planes.insert(t.planes.end(), normal.begin(), normal.end());
    for (size_t r = 0; r < m; ++r) {
      const uint32_t child = left + side[r];
      t.nodes[child].items.push_back(items[r]);
      leaf_of(items[r], tree) = child;
    }
    for (uint32_t child : {left, left + 1}) {
      if (t.nodes[child].items.size() > leaf_size_) stack.push_back(child);
    }
  }
}

void RpForestIndex::insert_into_tree(size_t tree, uint32_t slot) {
  Tree& t = trees_[tree];
  const float* x = vec(slot);
  uint32_t node = 0;
  while (t.nodes[node].left >= 0) {
    const Node& n = t.nodes[node];
    node = static_cast<uint32_t>(margin(t, n, x) >= 0.0f ? n.right : n.left);
  }
  t.nodes[node].items.push_back(slot);
  leaf_of(slot, tree) = node;
  if (t.nodes[node].items.size() > leaf_size_) split_leaf(tree, node);
}

void RpForestIndex::build_tree(size_t tree, std::vector<uint32_t> slots) {
  Tree& t = trees_[tree];
  t.nodes.assign(1, Node{});
  t.planes.clear();
  for (uint32_t s : slots) leaf_of(s, tree) = 0;
  t.nodes[0].items = std::move(slots);
  if (t.nodes[0].items.size() > leaf_size_) split_leaf(tree, 0);
}

// ---------------------------------------------------------------------------------------------
// Writes

Status RpForestIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  ForestScratch& s = forest_scratch();
  s.query.assign(vector.begin(), vector.end());
  if (metric_normalizes(metric_)) normalize_l2(s.query.data(), dim_);
  std::unique_lock lock(mu_);
  auto it = slots_.find(id);
  if (it != slots_.end()) {
    unlink(it->second);
  } else if (slots_.size() >= UINT32_MAX - 1) {
    return Status::out_of_range("index is full");
  }
  const uint32_t slot = store(id, s.query.data());
  for (size_t t = 0; t < trees_.size(); ++t) insert_into_tree(t, slot);
  return Status::ok();
}

Status RpForestIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  const size_t n = ids.size();
  if (n == 0) return Status::ok();
  std::vector<float> normalized;
  if (metric_normalizes(metric_)) {
    normalized.assign(vectors.begin(), vectors.end());
    for (size_t i = 0; i < n; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
    vectors = normalized;
  }
  // A repeated id keeps its last row: mark the rows that win.
  std::vector<uint8_t> keep(n, 1);
  {
    std::unordered_map<Id, size_t> last;
    last.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto [it, inserted] = last.emplace(ids[i], i);
      if (!inserted) {
        keep[it->second] = 0;
        it->second = i;
      }
    }
  }
  std::unique_lock lock(mu_);
  if (slots_.size() + n >= UINT32_MAX) return Status::out_of_range("index is full");
  const bool bulk = slots_.empty() && free_slots_.empty() && slot_ids_.empty();
  std::vector<uint32_t> added;
  added.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    if (auto it = slots_.find(ids[i]); it != slots_.end()) unlink(it->second);
    added.push_back(store(ids[i], vectors.data() + i * dim_));
  }
  const size_t workers = pool_->size();
  if (bulk) {
    // One tree per task; progress after each round of trees, on this thread.
    for (size_t t0 = 0; t0 < trees_.size(); t0 += workers) {
      const size_t t1 = std::min(trees_.size(), t0 + workers);
      pool_->parallel_for(t1 - t0, 1, [&](size_t a, size_t b, size_t) {
        for (size_t t = t0 + a; t < t0 + b; ++t) build_tree(t, added);
      });
      if (params_.progress) params_.progress("build", t1, trees_.size());
    }
    return Status::ok();
  }
  // Incremental: chunks of rows, each inserted into every tree in parallel over trees.
  ProgressReporter progress(params_.progress, "add", added.size(), params_.progress_every);
  const size_t chunk = std::max<size_t>(params_.progress_every, 1);
  for (size_t r0 = 0; r0 < added.size(); r0 += chunk) {
    const size_t r1 = std::min(added.size(), r0 + chunk);
    pool_->parallel_for(trees_.size(), 1, [&](size_t a, size_t b, size_t) {
      for (size_t t = a; t < b; ++t) {
        for (size_t r = r0; r < r1; ++r) insert_into_tree(t, added[r]);
      }
    });
    progress.update(r1);
  }
  return Status::ok();
}

Status RpForestIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end()) return Status::not_found("id " + std::to_string(id) + " not in index");
  unlink(it->second);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Search

// Caller holds the shared lock and validated the query.
void RpForestIndex::search_one(const float* query, size_t k, size_t search_k,
                               const IdFilter* filter, Neighbor* out, size_t* found) const {
  ForestScratch& s = forest_scratch();
  const float* q = query;
  if (metric_normalizes(metric_)) {
    s.query.assign(query, query + dim_);
    normalize_l2(s.query.data(), dim_);
    q = s.query.data();
  }
  if (s.seen.size() < slot_ids_.size()) s.seen.resize(slot_ids_.size(), 0);
  if (++s.epoch == 0) {  // wrapped: forget every old mark
    std::fill(s.seen.begin(), s.seen.end(), 0);
    s.epoch = 1;
  }
  s.candidates.clear();
  auto& queue = s.queue;
  queue.clear();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (size_t t = 0; t < trees_.size(); ++t) queue.push_back({kInf, static_cast<uint64_t>(t) << 32});
  std::make_heap(queue.begin(), queue.end());
  size_t gathered = 0;
  while (!queue.empty() && (gathered < search_k || s.candidates.size() < k)) {
    std::pop_heap(queue.begin(), queue.end());
    const auto [priority, where] = queue.back();
    queue.pop_back();
    const Tree& t = trees_[where >> 32];
    const Node& n = t.nodes[static_cast<uint32_t>(where)];
    if (n.left < 0) {
      for (uint32_t slot : n.items) {
        if (s.seen[slot] == s.epoch) continue;
        s.seen[slot] = s.epoch;
        ++gathered;
        if (filter != nullptr && !filter->allowed(slot_ids_[slot])) continue;
        s.candidates.push_back(slot);
      }
      continue;
    }
    const float m = margin(t, n, q);
    const uint64_t tree_bits = where & ~uint64_t{0xffffffff};
    queue.push_back({std::min(priority, m), tree_bits | static_cast<uint32_t>(n.right)});
    std::push_heap(queue.begin(), queue.end());
    queue.push_back({std::min(priority, -m), tree_bits | static_cast<uint32_t>(n.left)});
    std::push_heap(queue.begin(), queue.end());
  }
  const DistanceKernels& kern = kernels();
  s.heap.reset(k);
  const size_t nc = s.candidates.size();
  for (size_t i = 0; i < nc; ++i) {
    if (i + 2 < nc) __builtin_prefetch(vec(s.candidates[i + 2]), 0, 3);
    const uint32_t slot = s.candidates[i];
    s.heap.push(metric_distance(kern, metric_, q, vec(slot), dim_), slot_ids_[slot]);
  }
  const auto& sorted = s.heap.sorted();
  for (size_t j = 0; j < sorted.size(); ++j) out[j] = Neighbor{sorted[j].id, sorted[j].distance};
  *found = sorted.size();
}

Status RpForestIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                             std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));
  std::shared_lock lock(mu_);
  const size_t sk = params.search_k != 0   ? params.search_k
                    : params_.search_k != 0 ? params_.search_k
                                            : trees_.size() * k * 8;
  search_one(query.data(), k, sk, params.filter, out.data(), found);
  return Status::ok();
}

Status RpForestIndex::search_batch(std::span<const float> queries, size_t k,
                                   const SearchParams& params, std::span<Neighbor> out,
                                   std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  const size_t sk = params.search_k != 0   ? params.search_k
                    : params_.search_k != 0 ? params_.search_k
                                            : trees_.size() * k * 8;
  pool_->parallel_for(nq, 4, [&](size_t q0, size_t q1, size_t) {
    for (size_t q = q0; q < q1; ++q) {
      search_one(queries.data() + q * dim_, k, sk, params.filter, out.data() + q * k, &found[q]);
    }
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Persistence and introspection

Status RpForestIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kRpForest, kRpForestVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  out.put<uint64_t>(params_.n_trees);
  out.put<uint64_t>(leaf_size_);
  out.put<uint64_t>(params_.search_k);
  out.put<uint64_t>(params_.seed);
  out.put_vector(slot_ids_);
  out.write(live_.data(), live_.size());
  out.put_vector(vectors_);
  for (const Tree& t : trees_) {
    out.put<uint64_t>(t.rng_state);
    out.put<uint64_t>(t.nodes.size());
    for (const Node& n : t.nodes) {
      out.put<int32_t>(n.left);
      out.put<int32_t>(n.right);
      out.put<float>(n.bias);
      out.put<uint32_t>(n.plane);
      out.put<uint32_t>(static_cast<uint32_t>(n.items.size()));
      out.write(n.items.data(), n.items.size() * sizeof(uint32_t));
    }
    out.put_vector(t.planes);
  }
  return out.commit();
}

Result<std::unique_ptr<RpForestIndex>> RpForestIndex::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kRpForest, kRpForestVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0, n_trees = 0, leaf_size = 0, search_k = 0, seed = 0;
  uint32_t metric = 0;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(in.get(&n_trees));
  VS_RETURN_IF_ERROR(in.get(&leaf_size));
  VS_RETURN_IF_ERROR(in.get(&search_k));
  VS_RETURN_IF_ERROR(in.get(&seed));
  RpForestParams p;
  p.n_trees = n_trees;
  p.leaf_size = leaf_size;
  p.search_k = search_k;
  p.seed = seed;
  p.threads = threads;
  if (metric > static_cast<uint32_t>(Metric::kL1) || leaf_size == 0 || !check_params(dim, p).is_ok()) {
    return in.truncated("parameters");
  }
  std::unique_ptr<RpForestIndex> idx(new RpForestIndex(dim, static_cast<Metric>(metric), p));
  RpForestIndex& x = *idx;
  const uint64_t max_slots = std::min<uint64_t>(UINT32_MAX - 1, in.remaining() / sizeof(Id));
  VS_RETURN_IF_ERROR(in.get_vector(&x.slot_ids_, max_slots));
  const size_t nslots = x.slot_ids_.size();
  x.live_.resize(nslots);
  VS_RETURN_IF_ERROR(in.read(x.live_.data(), nslots));
  VS_RETURN_IF_ERROR(in.get_vector(&x.vectors_, in.remaining() / sizeof(float)));
  if (x.vectors_.size() != nslots * dim) return in.truncated("vector array");
  x.slots_.reserve(nslots);
  for (uint32_t s = 0; s < nslots; ++s) {
    if (x.live_[s] > 1) return in.truncated("slot table");
    if (!x.live_[s]) {
      x.free_slots_.push_back(s);
      continue;
    }
    if (!all_finite(x.vec(s), dim)) return in.truncated("vector (non-finite value)");
    if (!x.slots_.emplace(x.slot_ids_[s], s).second) return in.truncated("slot table (duplicate id)");
  }
  std::reverse(x.free_slots_.begin(), x.free_slots_.end());
  constexpr uint32_t kUnset = UINT32_MAX;
  x.leaf_of_.assign(nslots * n_trees, kUnset);
  for (size_t t = 0; t < n_trees; ++t) {
    Tree& tree = x.trees_[t];
    uint64_t nodes = 0;
    VS_RETURN_IF_ERROR(in.get(&tree.rng_state));
    VS_RETURN_IF_ERROR(in.get(&nodes));
    if (nodes == 0 || nodes > INT32_MAX || nodes > in.remaining() / 20) return in.truncated("tree size");
    tree.nodes.assign(nodes, Node{});
    uint32_t max_plane = 0;
    bool any_plane = false;
    for (uint64_t i = 0; i < nodes; ++i) {
      Node& n = tree.nodes[i];
      uint32_t count = 0;
      VS_RETURN_IF_ERROR(in.get(&n.left));
      VS_RETURN_IF_ERROR(in.get(&n.right));
      VS_RETURN_IF_ERROR(in.get(&n.bias));
      VS_RETURN_IF_ERROR(in.get(&n.plane));
      VS_RETURN_IF_ERROR(in.get(&count));
      const bool leaf = n.left < 0;
      if (leaf != (n.right < 0) || (leaf && n.left != -1) || (leaf && n.right != -1)) {
        return in.truncated("tree node");
      }
      if (!leaf && (static_cast<uint64_t>(n.left) <= i || static_cast<uint64_t>(n.right) <= i ||
                    static_cast<uint64_t>(n.left) >= nodes || static_cast<uint64_t>(n.right) >= nodes ||
                    count != 0 || !std::isfinite(n.bias))) {
        return in.truncated("tree node");
      }
      if (!leaf) {
        max_plane = std::max(max_plane, n.plane);
        any_plane = true;
      }
      if (count > nslots || count > in.remaining() / sizeof(uint32_t)) return in.truncated("tree leaf");
      n.items.resize(count);
      VS_RETURN_IF_ERROR(in.read(n.items.data(), count * sizeof(uint32_t)));
      for (uint32_t s : n.items) {
        if (s >= nslots || !x.live_[s]) return in.truncated("tree leaf (bad slot)");
        uint32_t& at = x.leaf_of_[static_cast<size_t>(s) * n_trees + t];
        if (at != kUnset) return in.truncated("tree leaf (slot listed twice)");
        at = static_cast<uint32_t>(i);
      }
    }
    VS_RETURN_IF_ERROR(in.get_vector(&tree.planes, in.remaining() / sizeof(float)));
    const bool planes_short =
        any_plane && (static_cast<uint64_t>(max_plane) + 1) * dim > tree.planes.size();
    if (tree.planes.size() % dim != 0 || planes_short ||
        !all_finite(tree.planes.data(), tree.planes.size())) {
      return in.truncated("tree planes");
    }
    // Every node but the root must be reachable exactly once (children come after parents).
    std::vector<uint8_t> reached(nodes, 0);
    reached[0] = 1;
    for (uint64_t i = 0; i < nodes; ++i) {
      const Node& n = tree.nodes[i];
      if (!reached[i]) return in.truncated("tree (unreachable node)");
      if (n.left < 0) continue;
      if (reached[n.left] || reached[n.right] || n.left == n.right) {
        return in.truncated("tree (shared node)");
      }
      reached[n.left] = reached[n.right] = 1;
    }
  }
  for (uint32_t s = 0; s < nslots; ++s) {
    for (size_t t = 0; t < n_trees; ++t) {
      uint32_t& at = x.leaf_of_[static_cast<size_t>(s) * n_trees + t];
      if (x.live_[s] && at == kUnset) return in.truncated("tree (point missing)");
      if (!x.live_[s]) at = 0;
    }
  }
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  return idx;
}

size_t RpForestIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  size_t b = sizeof(*this) + vectors_.capacity() * sizeof(float) + slot_ids_.capacity() * sizeof(Id) +
             live_.capacity() + free_slots_.capacity() * sizeof(uint32_t) +
             leaf_of_.capacity() * sizeof(uint32_t) +
             slots_.size() * (sizeof(Id) + sizeof(uint32_t) + 2 * sizeof(void*)) +
             slots_.bucket_count() * sizeof(void*);
  for (const Tree& t : trees_) {
    b += t.nodes.capacity() * sizeof(Node) + t.planes.capacity() * sizeof(float);
    for (const Node& n : t.nodes) b += n.items.capacity() * sizeof(uint32_t);
  }
  return b;
}

Status RpForestIndex::TEST_check_invariants() const {
  std::shared_lock lock(mu_);
  for (size_t t = 0; t < trees_.size(); ++t) {
    size_t total = 0;
    for (size_t i = 0; i < trees_[t].nodes.size(); ++i) {
      const Node& n = trees_[t].nodes[i];
      if (n.left >= 0 && !n.items.empty()) return Status::internal("internal node holds items");
      if (n.items.size() > leaf_size_) return Status::internal("leaf above leaf_size");
      for (uint32_t s : n.items) {
        if (!live_[s]) return Status::internal("dead slot in a leaf");
        if (leaf_of_[static_cast<size_t>(s) * trees_.size() + t] != i) {
          return Status::internal("leaf map out of date");
        }
      }
      total += n.items.size();
    }
    if (total != slots_.size()) return Status::internal("tree does not hold every live point once");
  }
  return Status::ok();
}

}  // namespace vecstream

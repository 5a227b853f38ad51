// IVF-PQ: an inverted file over a coarse k-means quantizer whose lists hold 8-bit product-quantized
// codes of the residuals (vector - its list centroid), searched by ADC (float lookup tables).
//
// This header also holds IvfPqCodec, the two-level quantizer shared with the 4-bit fast-scan
// index (ivf_pq_fast_scan_index.h): coarse centroids, a ProductQuantizer trained on residuals, and
// the arithmetic that turns a query and a probed list into one lookup table plus a constant:
//
//   kL2      |q - c - y|^2 = |q - c|^2 + sum_m (T_c[m][y_m] - 2 <q_m, y_m>), where the term table
//            T_c[m][j] = |y_mj|^2 + 2 <c_m, y_mj> is precomputed per list when it fits
//            `precomputed_table_max_bytes` (FAISS's use_precomputed_table), so a probe costs
//            M * 2^nbits additions; otherwise the table is computed from the residual q - c.
//   kIP      <q, c + y> = <q, c> + sum_m <q_m, y_m>: one table per query, the list adds -<q, c>.
//   kCosine  as kIP on normalised vectors (1 - <q, c + y>).
//   kL1      |q - c - y|_1 = sum_m |q_m - c_m - y_m|_1: one table per probed list.
// With OPQ the codes live in the rotated space R(x - c); the tables use R q and R c (rotated
// centroids are kept), and L1 refuses OPQ (it is not rotation invariant). The anisotropic loss
// (product_quantizer.h) is charged against the datapoint x, not the residual: it is the score
// <q, x> that must survive quantization.
//
// IvfPqIndex storage: InvertedLists<uint8_t> (inverted_lists.h): per list the ids and M-byte
// codes, and an id -> (list, position) map, so remove() moves the list's last entry into the
// hole: O(M), no tombstones, no scan. Raw vectors are not kept; distances returned are ADC
// estimates. The probe loop is the one the IVF kinds share (ivf_search.h).
//
// Training: explicitly with train(), or automatically by the first add_batch() big enough for
// IvfParams' rule (it trains on that batch, then adds it). Before training, add() and smaller
// batches fail with FAILED_PRECONDITION.
//
// Thread-safety: as index.h. A reader-writer lock: searches share it; add/remove take it
// exclusively only to splice codes into lists (encoding and training run outside it).
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/fast_scan.h"
#include "index/coarse_quantizer.h"
#include "index/index.h"
#include "index/inverted_lists.h"
#include "index/ivf_params.h"
#include "index/product_quantizer.h"

namespace vecstream {

class ThreadPool;

/// Where an IVF-PQ index's memory goes (memory_breakdown()).
struct IvfPqMemory {
  size_t codes = 0;        // PQ codes in the lists
  size_t raw_vectors = 0;  // float vectors kept for reranking (fast scan)
  size_t ids = 0;          // list ids and the id map
  size_t quantizers = 0;   // centroids, codebooks, rotation, precomputed tables
  size_t total() const { return codes + raw_vectors + ids + quantizers; }
};

/// Coarse quantizer + residual product quantizer + the table arithmetic (see the banner).
/// Immutable once built: every const method may be called from any number of threads at once.
class IvfPqCodec {
 public:
  /// Trains on n rows (normalised already under cosine). `coarse` carries iterations, sample
  /// size, seed, threads, progress; `pq` the PQ shape and options.
  static Result<IvfPqCodec> train(std::span<const float> data, size_t n, size_t dim, Metric metric,
                                  size_t nlist, const KMeansParams& coarse, const PqParams& pq,
                                  size_t precomputed_table_max_bytes);

  Metric metric() const { return coarse_.metric(); }
  size_t dim() const { return coarse_.dim(); }
  size_t nlist() const { return coarse_.nlist(); }
  const CoarseQuantizer& coarse() const { return coarse_; }
  const ProductQuantizer& pq() const { return pq_; }
  /// True when every probed list uses the query's one table (kIP, kCosine).
  bool shared_table() const { return metric() == Metric::kInnerProduct || metric() == Metric::kCosine; }
  bool has_term_table() const { return !term_table_.empty(); }
  /// List `list`'s precomputed terms T_c (M x ksub floats; its float table is T_c + 2 * the
  /// query's shared table, see list_table), or null without a term table.
  const float* term_table(uint32_t list) const {
    return term_table_.empty() ? nullptr : term_table_.data() + size_t{list} * pq_.m() * pq_.ksub();
  }

  /// Lists and codes (n * pq().code_size() bytes) of n rows. Single-threaded; allocates.
  void encode(const float* x, size_t n, uint32_t* lists, uint8_t* codes) const;

  /// Per-query scratch, reusable across queries (no allocation once sized).
  struct QueryState {
    std::vector<float> rotated;   // R q
    std::vector<float> shared;    // M x ksub: -<(R q)_m, y_mj>
    std::vector<float> residual;  // scratch for the residual tables
  };
  /// Computes the per-query parts of the tables. `q` is normalised already under cosine.
  void prepare(const float* q, QueryState& s) const;
  /// Table (M x ksub floats) and constant for probed `list` whose coarse distance is
  /// `probe_distance`: the ADC distance of a code is bias + sum of its table entries. With
  /// shared_table() the table is s.shared for every list and only `bias` needs computing
  /// (`lut` may then be null).
  void list_table(const float* q, QueryState& s, uint32_t list, float probe_distance, float* lut,
                  float* bias) const;

  /// list_table() for 4-bit fast scan (pq().ksub() == 16): `lut8` gets the list's table
  /// quantized to bytes (FastScanKernels::quantize_lut layout) and the result is that
  /// quantization; `*bias` is list_table()'s. With a term table the byte table comes straight
  /// from the terms and the query's shared table (quantize_lut_sum2: no float table is written).
  /// With shared_table() every list has the query's one table: the caller quantizes it once into
  /// `lut8` and passes its quantization as `shared`, returned as is. `lut` is float scratch
  /// (M x 16) for the residual tables.
  LutQuantization fast_scan_list_table(const FastScanKernels& kern, const float* q, QueryState& s,
                                       uint32_t list, float probe_distance, LutQuantization shared,
                                       float* lut, uint8_t* lut8, float* bias) const;

  /// Starts loading what list_table() will read for `list` (a prefetch hint, no effect on results).
  void prefetch_table(uint32_t list) const;

  /// Appends the coarse quantizer, then the product quantizer (layouts in their headers); the
  /// rotated centroids and the term table are rebuilt by load().
  void save(IndexFileWriter& w) const;
  static Result<IvfPqCodec> load(IndexFileReader& r, size_t precomputed_table_max_bytes);
  size_t memory_bytes() const;

 private:
  IvfPqCodec(CoarseQuantizer coarse, ProductQuantizer pq, size_t precomputed_table_max_bytes);

  CoarseQuantizer coarse_;
  ProductQuantizer pq_;
  std::vector<float> rotated_centroids_;  // nlist x dim, R c (only with OPQ)
  std::vector<float> term_table_;         // nlist x M x ksub (kL2 only, when within budget)
};

struct IvfPqParams {
  /// nlist, nprobe, k-means, threads, progress and the auto-training rule shared with the other
  /// IVF kinds (ivf_params.h). An untrained add_batch() trains on its rows when it has at least
  /// max(nlist * min_points_per_centroid, 256) of them.
  IvfParams ivf;
  /// PQ sub-quantizers (8 bits each); must divide the dimension. 0 = dim / 8 (or /4, /2, /1: the
  /// first that divides), one bit per dimension.
  size_t m = 0;
  float anisotropic_eta = 0.0f;  // score-aware PQ for kInnerProduct / kCosine; 0 = off
  bool opq = false;              // learn a rotation before PQ (not with kL1)
  /// Cap on the kL2 term table (nlist * M * 256 floats); above it tables are built per probe.
  size_t precomputed_table_max_bytes = size_t{256} << 20;
};

class IvfPqIndex final : public Index {
 public:
  /// Errors (INVALID_ARGUMENT): as IvfParams (ivf_params.h), M not dividing dim, eta in (0, 1)
  /// or set with kL2 / kL1, OPQ with kL1.
  static Result<std::unique_ptr<IvfPqIndex>> create(size_t dim, Metric metric,
                                                    const IvfPqParams& params = {});
  /// Reads save(); CORRUPTION for a damaged or inconsistent file. `threads` = 0: hardware
  /// concurrency (everything else comes from the file; progress is not stored).
  static Result<std::unique_ptr<IvfPqIndex>> load(const std::string& path, size_t threads = 0);
  ~IvfPqIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  /// "ivf_pq(nlist=256,nprobe=8,M=98x8,opq)".
  std::string describe() const override;
  const IvfPqParams& params() const { return params_; }
  bool is_trained() const;

  /// Trains both quantizers on n rows (data.size() == n * dim; not added). Errors:
  /// INVALID_ARGUMENT for bad rows or n < max(nlist, 256), FAILED_PRECONDITION if already
  /// trained. Cost: coarse k-means plus M k-means of 256 centroids on a sample of at most
  /// 256 * max_points_per_centroid residuals (plus OPQ / anisotropic passes when asked).
  Status train(std::span<const float> data, size_t n);

  /// Upsert. FAILED_PRECONDITION before training.
  Status add(Id id, std::span<const float> vector) override;
  /// Upserts a batch (encoded in parallel outside the lock); trains first when untrained and the
  /// batch is large enough (see IvfPqParams::ivf). A repeated id keeps its last row.
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  /// O(M): the list's last code moves into the hole.
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// Visits the nprobe nearest lists (SearchParams::nprobe, else params().ivf.nprobe; capped at
  /// nlist) and keeps the k best ADC distances among points the filter allows. If fewer than k
  /// were found, further lists are visited in centroid order until k are, or all lists are done.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  /// Queries split over params().ivf.threads workers.
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override { return memory_breakdown().total(); }
  IvfPqMemory memory_breakdown() const;

 private:
  IvfPqIndex(size_t dim, Metric metric, const IvfPqParams& params);
  Status train_impl(const float* data, size_t n);
  void search_one(const float* query, size_t k, const SearchParams& params, Neighbor* out,
                  size_t* found) const;

  const size_t dim_;
  const Metric metric_;
  IvfPqParams params_;
  std::unique_ptr<ThreadPool> pool_;
  std::mutex train_mu_;  // one training at a time
  mutable std::shared_mutex mu_;
  std::shared_ptr<const IvfPqCodec> codec_;  // null until trained
  InvertedLists<uint8_t> lists_;             // M-byte codes
};

// Shared by the IVF-PQ kinds (this one and ivf_pq_fast_scan_index.h).
namespace internal {
/// Resolves IvfPqParams::m = 0 to the default for `dim` and `dims_per_code`-dimension
/// sub-spaces (the first of dims_per_code, /2, ... that divides dim).
size_t default_pq_m(size_t dim, size_t dims_per_code);
/// The parameter checks common to both kinds (IvfParams, M, eta, OPQ); `kind` prefixes the
/// messages.
Status validate_ivf_pq_params(const char* kind, size_t dim, Metric metric, const IvfParams& ivf,
                              size_t m, float eta, bool opq);
/// Rows an untrained add_batch() needs to train: max(nlist * min_points_per_centroid, ksub).
size_t ivf_pq_auto_train_rows(const IvfParams& ivf, size_t ksub);
/// The PQ training settings of an IVF-PQ kind.
PqParams ivf_pq_pq_params(const IvfParams& ivf, size_t m, size_t nbits, float eta, bool opq);
/// Rows of a user batch, normalised under cosine into `copy` (returned), else `x` itself.
const float* normalized_rows(Metric metric, const float* x, size_t n, size_t dim,
                             std::vector<float>& copy);
}  // namespace internal

}  // namespace vecstream

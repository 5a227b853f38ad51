// IvfParams: the knobs shared by the IVF kinds whose lists hold whole vectors or 8-bit codes
// (ivf_flat_index.h, ivf_sq8_index.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "index/build_progress.h"
#include "index/kmeans.h"

namespace vecstream {

struct IvfParams {
  size_t nlist = 1024;               // inverted lists (k-means centroids)
  size_t nprobe = 8;                 // lists visited by a query unless SearchParams::nprobe says
  size_t kmeans_iterations = 20;
  size_t max_points_per_centroid = 256;  // training sample: at most nlist * this rows
  /// add_batch() on an untrained index trains on the batch itself when it has at least
  /// nlist * min_points_per_centroid rows (FAISS warns below 39); smaller batches fail with
  /// FAILED_PRECONDITION and train() must be called first.
  size_t min_points_per_centroid = 16;
  uint64_t seed = 1;
  size_t threads = 0;                // training, add_batch and search_batch; 0 = hardware
  ProgressFn progress;               // "train" per k-means iteration, "add" every progress_every rows
  size_t progress_every = 65536;
};

class IndexFileReader;
class IndexFileWriter;

namespace internal {

/// INVALID_ARGUMENT for a dimension outside [1, 65536], nlist outside [1, 2^24], nprobe == 0 or
/// kmeans_iterations == 0.
Status check_ivf_params(size_t dim, const IvfParams& p);
/// The k-means settings of an IVF training run (k is set by the coarse quantizer); progress goes
/// to p.progress as ("train", iteration + 1, iterations). The result refers to p.progress.
KMeansParams ivf_kmeans_params(const IvfParams& p);
/// u64 nlist | u64 nprobe | u64 kmeans_iterations | u64 max_points_per_centroid |
/// u64 min_points_per_centroid | u64 seed
void save_ivf_params(IndexFileWriter& w, const IvfParams& p);
/// Reads what save_ivf_params wrote (threads and progress are left as they are).
Status load_ivf_params(IndexFileReader& r, IvfParams* p);

}  // namespace internal
}  // namespace vecstream

// Checks, k-means settings and serialisation of IvfParams, shared by the IVF kinds.
#include "index/ivf_params.h"

#include "index/index_file.h"

namespace vecstream::internal {

namespace {
constexpr size_t kMaxDim = size_t{1} << 16;
constexpr size_t kMaxLists = size_t{1} << 24;
}  // namespace

Status check_ivf_params(size_t dim, const IvfParams& p) {
  if (dim == 0 || dim > kMaxDim) return Status::invalid_argument("dimension must be in [1, 65536]");
  if (p.nlist == 0 || p.nlist > kMaxLists) return Status::invalid_argument("nlist must be in [1, 2^24]");
  if (p.nprobe == 0) return Status::invalid_argument("nprobe must be at least 1");
  if (p.kmeans_iterations == 0) return Status::invalid_argument("kmeans_iterations must be at least 1");
  return Status::ok();
}

KMeansParams ivf_kmeans_params(const IvfParams& p) {
  KMeansParams km;
  km.iterations = p.kmeans_iterations;
  km.max_points_per_centroid = p.max_points_per_centroid;
  km.seed = p.seed;
  km.threads = p.threads;
  if (p.progress) {
    const ProgressFn* fn = &p.progress;
    const size_t total = p.kmeans_iterations;
    km.progress = [fn, total](size_t it, double) { (*fn)("train", it + 1, total); };
  }
  return km;
}

void save_ivf_params(IndexFileWriter& w, const IvfParams& p) {
  w.put<uint64_t>(p.nlist);
  w.put<uint64_t>(p.nprobe);
  w.put<uint64_t>(p.kmeans_iterations);
  w.put<uint64_t>(p.max_points_per_centroid);
  w.put<uint64_t>(p.min_points_per_centroid);
  w.put<uint64_t>(p.seed);
}

Status load_ivf_params(IndexFileReader& r, IvfParams* p) {
  uint64_t v[6];
  for (uint64_t& x : v) VS_RETURN_IF_ERROR(r.get(&x));
  p->nlist = v[0];
  p->nprobe = v[1];
  p->kmeans_iterations = v[2];
  p->max_points_per_centroid = v[3];
  p->min_points_per_centroid = v[4];
  p->seed = v[5];
  return Status::ok();
}

}  // namespace vecstream::internal

// Exact top-k neighbours of every query, computed with FlatIndex and cached on disk.
//
// Computing the ground truth of Fashion-MNIST is a 60000 x 10000 x 784 GEMM: seconds, not
// minutes, but worth skipping on every rerun. The cache file is keyed by the dataset name, its
// shape, k and a checksum of the data bytes; its name is
//   <cache_dir>/<dataset name>-<metric>-n<n>-nq<nq>-d<d>-k<k>-<checksum hex>.gt
// and its layout (integers in host byte order, little-endian on x86-64):
//
//   offset  size          field
//        0  8             magic "VSGTRUTH"
//        8  4             version (1)
//       12  4             metric (core/metric.h value)
//       16  8             n
//       24  8             nq
//       32  8             d
//       40  8             k
//       48  8             dataset checksum (dataset_checksum())
//       56  4             CRC-32 of the id block
//       60  4             CRC-32 of bytes 0..59
//       64  8 * nq * k    ids, query-major, closest first
//
// A file that is short, long, or fails any field or checksum is reported, ignored and rewritten.
// Files are written to a temporary name, fsynced and renamed, so a crash never leaves a torn one.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"
#include "dataset.h"
#include "index/index.h"

namespace vecstream::bench {

struct GroundTruth {
  size_t nq = 0;
  size_t k = 0;
  std::vector<Id> ids;  // nq * k, row q = exact neighbours of query q, closest first

  const Id* row(size_t q) const { return ids.data() + q * k; }
};

/// How the ground truth was obtained, for the report.
struct GroundTruthInfo {
  bool from_cache = false;
  double seconds = 0.0;      // load or compute time
  std::string path;          // cache file ("" when caching is off)
  std::string cache_note;    // why an existing cache file was rejected, or why saving failed
};

/// Exact top-k of every query by FlatIndex::search_batch on `threads` workers (0 = all cores).
/// k must be in [1, n].
Result<GroundTruth> compute_ground_truth(const Dataset& ds, size_t k, size_t threads);

/// The cached ground truth if `cache_dir` holds a valid file for this dataset and k; otherwise
/// computes it and saves it there (a failure to save is noted in `info`, not an error). An empty
/// `cache_dir` turns caching off.
Result<GroundTruth> load_or_compute_ground_truth(const Dataset& ds, size_t k,
                                                 const std::string& cache_dir, size_t threads,
                                                 GroundTruthInfo* info);

}  // namespace vecstream::bench

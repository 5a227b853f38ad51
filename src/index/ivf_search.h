// Internal to the IVF kinds: the per-thread search scratch and the probe loop they share.
//
// A query probes the nprobe closest lists and scans them into a bounded heap. When the probed
// lists hold fewer than k allowed points (a selective filter, tiny lists), the loop keeps going
// down the list order until k are found or every list was scanned, so a filtered query still
// returns k results when k exist (index.h's filter contract).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/top_k.h"
#include "index/coarse_quantizer.h"
#include "index/index.h"

namespace vecstream::internal {

/// Scratch of one searching thread; grows to the largest index it served and is then reused, so a
/// query allocates nothing once warm.
struct IvfScratch {
  std::vector<float> centroid_dists;  // nlist
  std::vector<uint32_t> lists;        // probe order
  std::vector<float> list_dists;
  std::vector<float> dists;           // distances of one scan block
  std::vector<float> query;           // the query as the scan wants it (normalised, scaled ...)
  std::vector<float> aux;             // kind-specific per-query tables
  std::vector<uint8_t> query_code;    // kind-specific encoded query
  TopK<Id> heap;
};

/// This thread's scratch.
inline IvfScratch& ivf_scratch() {
  thread_local IvfScratch scratch;
  return scratch;
}

/// Probes and scans. `scan(list, list_distance, heap)` offers every allowed point of one list to
/// the heap; list_distance is the probe's ordering distance from the query to the list centroid.
/// Writes the results, closest first, to out[0..*found).
template <typename ScanList>
void ivf_search(const CoarseQuantizer& cq, const float* query, size_t nprobe, size_t k,
                IvfScratch& s, Neighbor* out, size_t* found, ScanList&& scan) {
  const size_t nlist = cq.nlist();
  s.centroid_dists.resize(nlist);
  s.lists.resize(nlist);
  s.list_dists.resize(nlist);
  s.heap.reset(k);
  const size_t probed = cq.probe(query, nprobe, s.lists.data(), s.list_dists.data(),
                                 s.centroid_dists.data());
  for (size_t i = 0; i < probed; ++i) scan(s.lists[i], s.list_dists[i], s.heap);
  if (!s.heap.full() && probed < nlist) {
    // Too few points in the probed lists: continue in probe order over the rest.
    cq.probe(query, nlist, s.lists.data(), s.list_dists.data(), s.centroid_dists.data());
    for (size_t i = probed; i < nlist && !s.heap.full(); ++i) scan(s.lists[i], s.list_dists[i], s.heap);
  }
  const auto& sorted = s.heap.sorted();
  for (size_t j = 0; j < sorted.size(); ++j) out[j] = Neighbor{sorted[j].id, sorted[j].distance};
  *found = sorted.size();
}

}  // namespace vecstream::internal

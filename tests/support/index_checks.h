// Checks shared by the tests of the quantized and partitioned index kinds: damaged files must load
// as CORRUPTION, a reloaded index must answer exactly as the saved one, and batch == single.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "index/flat_index.h"
#include "index/index.h"

namespace vecstream::testing {

inline std::string temp_path(const std::string& prefix, const std::string& name) {
  return ::testing::TempDir() + "/vs_" + prefix + "_" + name + "_" + std::to_string(::getpid());
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes, size_t n) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(n));
}

/// Truncations at several points and single flipped bytes of the file at `path` must make
/// `load` return CORRUPTION (never crash, never succeed).
inline void expect_corruption_on_damage(const std::string& path,
                                        const std::function<Status(const std::string&)>& load) {
  const std::string bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 64u);
  const std::string p = path + ".damaged";
  for (size_t cut : {size_t{0}, size_t{5}, size_t{20}, size_t{60}, bytes.size() / 3,
                     bytes.size() / 2, bytes.size() - 20, bytes.size() - 1}) {
    write_bytes(p, bytes, cut);
    Status s = load(p);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "cut at " << cut << ": " << s.to_string();
  }
  for (size_t at : {size_t{3}, size_t{13}, size_t{40}, size_t{70}, bytes.size() / 4,
                    bytes.size() / 2, bytes.size() - 30, bytes.size() - 10}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x5a);
    write_bytes(p, damaged, damaged.size());
    Status s = load(p);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "flip at " << at << ": " << s.to_string();
  }
  std::remove(p.c_str());
}

/// Same ids and distances from both indexes for every query.
inline void expect_same_results(const Index& a, const Index& b, const std::vector<float>& queries,
                                size_t k, const SearchParams& params = {}) {
  const size_t d = a.dim(), nq = queries.size() / d;
  std::vector<Neighbor> ra(k), rb(k);
  for (size_t q = 0; q < nq; ++q) {
    std::span<const float> qv(queries.data() + q * d, d);
    size_t na = 0, nb = 0;
    ASSERT_TRUE(a.search(qv, k, params, ra, &na).is_ok());
    ASSERT_TRUE(b.search(qv, k, params, rb, &nb).is_ok());
    ASSERT_EQ(na, nb) << q;
    for (size_t i = 0; i < na; ++i) {
      EXPECT_EQ(ra[i].id, rb[i].id) << q << " " << i;
      EXPECT_EQ(ra[i].distance, rb[i].distance) << q << " " << i;
    }
  }
}

/// search_batch answers exactly as search() for every query.
inline void expect_batch_matches_single(const Index& idx, const std::vector<float>& queries,
                                        size_t k, const SearchParams& params = {}) {
  const size_t d = idx.dim(), nq = queries.size() / d;
  std::vector<Neighbor> batch(nq * k), single(k);
  std::vector<size_t> found(nq);
  ASSERT_TRUE(idx.search_batch(queries, k, params, batch, found).is_ok());
  for (size_t q = 0; q < nq; ++q) {
    size_t n = 0;
    ASSERT_TRUE(idx.search({queries.data() + q * d, d}, k, params, single, &n).is_ok());
    ASSERT_EQ(found[q], n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(batch[q * k + i].id, single[i].id);
      EXPECT_EQ(batch[q * k + i].distance, single[i].distance);
    }
  }
}

/// A FlatIndex holding the same points (the ground truth of recall figures).
inline std::unique_ptr<Index> exact_copy(size_t d, Metric m, const std::vector<Id>& ids,
                                         const std::vector<float>& data) {
  auto flat = FlatIndex::create(d, m, 1);
  if (!flat.is_ok() || !(*flat)->add_batch(ids, data).is_ok()) return nullptr;
  return std::move(*flat);
}

}  // namespace vecstream::testing

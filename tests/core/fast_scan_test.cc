// Fast-scan kernels: packing round trips, table quantization error bounds, and every SIMD level
// against the scalar reference (itself checked against sums written out here) over awkward
// numbers of sub-quantizers (odd, around the 2/4-pair steps, past 64 and past the 257 where
// 255 * M leaves uint16) and awkward list lengths (around the 32-vector block).
//
// Packed arrays are copied into allocations that end exactly where the data ends, so a kernel
// reading past the last block shows up under AddressSanitizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/fast_scan.h"

namespace vecstream {
namespace {

constexpr size_t kMs[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 98, 127, 196, 257};
constexpr size_t kNs[] = {1, 2, 31, 32, 33, 63, 64, 65, 100, 257};
constexpr SimdLevel kAllLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512};

std::vector<const FastScanKernels*> available_levels() {
  std::vector<const FastScanKernels*> out;
  for (SimdLevel level : kAllLevels) {
    if (const FastScanKernels* k = fast_scan_kernels_for(level)) out.push_back(k);
  }
  return out;
}

std::string trace(const FastScanKernels& k, size_t m, size_t n) {
  return std::string(simd_level_name(k.level)) + " M=" + std::to_string(m) + " n=" + std::to_string(n);
}

std::vector<uint8_t> random_codes(std::mt19937& rng, size_t n, size_t m) {
  std::vector<uint8_t> codes(n * m);
  for (auto& c : codes) c = static_cast<uint8_t>(rng() & 15);
  return codes;
}

// Exactly-sized heap copies: reading one byte past the end trips ASan.
std::vector<uint8_t> packed(const std::vector<uint8_t>& codes, size_t n, size_t m) {
  std::vector<uint8_t> blocks(fast_scan_blocks(n) * fast_scan_block_bytes(m));
  fast_scan_pack(codes.data(), n, m, blocks.data());
  return blocks;
}

uint32_t naive_sum(const uint8_t* codes, size_t m, const uint8_t* lut8) {
  uint32_t s = 0;
  for (size_t sq = 0; sq < m; ++sq) s += lut8[sq * 16 + codes[sq]];
  return s;
}

TEST(FastScanLayout, PackUnpackRoundTripAndAccessors) {
  std::mt19937 rng(1);
  for (size_t m : kMs) {
    for (size_t n : kNs) {
      auto codes = random_codes(rng, n, m);
      auto blocks = packed(codes, n, m);
      std::vector<uint8_t> back(n * m);
      fast_scan_unpack(blocks.data(), n, m, back.data());
      ASSERT_EQ(back, codes) << "M=" << m << " n=" << n;
      for (size_t i = 0; i < n; i += 7) {
        for (size_t sq = 0; sq < m; ++sq) ASSERT_EQ(fast_scan_get(blocks.data(), m, i, sq), codes[i * m + sq]);
      }
      // Padding vectors and the padding sub-quantizer are zero.
      for (size_t i = n; i < fast_scan_blocks(n) * 32; ++i) {
        for (size_t sq = 0; sq < fast_scan_padded_m(m); ++sq) ASSERT_EQ(fast_scan_get(blocks.data(), m, i, sq), 0);
      }
    }
  }
}

TEST(FastScanLayout, StoreAndMoveTouchOnlyTheirVector) {
  std::mt19937 rng(2);
  for (size_t m : {1, 3, 16, 33}) {
    const size_t n = 70;
    auto codes = random_codes(rng, n, m);
    auto blocks = packed(codes, n, m);
    auto fresh = random_codes(rng, 1, m);
    fast_scan_store(blocks.data(), m, 40, fresh.data());
    std::copy(fresh.begin(), fresh.end(), codes.begin() + 40 * m);
    fast_scan_move(blocks.data(), m, 69, 3);  // swap-remove of vector 3
    std::copy(codes.begin() + 69 * m, codes.begin() + 70 * m, codes.begin() + 3 * m);
    std::vector<uint8_t> back(n * m);
    fast_scan_unpack(blocks.data(), n, m, back.data());
    EXPECT_EQ(back, codes) << "M=" << m;
  }
}

// A full-range byte table: 255 * M must fit in uint16, so M <= 257.
std::vector<uint8_t> random_lut8(std::mt19937& rng, size_t m) {
  std::vector<uint8_t> lut(fast_scan_lut_bytes(m), 0);
  for (size_t i = 0; i < m * 16; ++i) lut[i] = static_cast<uint8_t>(rng() & 255);
  return lut;
}

TEST(FastScanKernels, AccumulateEveryLevelMatchesNaiveSums) {
  std::mt19937 rng(3);
  for (const FastScanKernels* k : available_levels()) {
    for (size_t m : kMs) {
      for (size_t n : kNs) {
        auto codes = random_codes(rng, n, m);
        auto blocks = packed(codes, n, m);
        auto lut = random_lut8(rng, m);
        const size_t nb = fast_scan_blocks(n);
        std::vector<uint16_t> out(nb * 32);
        k->accumulate(blocks.data(), nb, m, lut.data(), out.data());
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(out[i], naive_sum(codes.data() + i * m, m, lut.data())) << trace(*k, m, n) << " i=" << i;
        }
        for (size_t i = n; i < nb * 32; ++i) {  // padding vectors: all codes 0
          ASSERT_EQ(out[i], naive_sum(std::vector<uint8_t>(m, 0).data(), m, lut.data())) << trace(*k, m, n);
        }
      }
    }
  }
}

TEST(FastScanKernels, AccumulateAllMaximalEntriesDoesNotWrap) {
  // 255 * 257 = 65535: the largest sum a byte table can produce without leaving uint16.
  const size_t m = 257, n = 33;
  std::vector<uint8_t> codes(n * m, 15);
  auto blocks = packed(codes, n, m);
  std::vector<uint8_t> lut(fast_scan_lut_bytes(m), 0);
  for (size_t i = 0; i < m * 16; ++i) lut[i] = 255;
  for (const FastScanKernels* k : available_levels()) {
    std::vector<uint16_t> out(fast_scan_blocks(n) * 32);
    k->accumulate(blocks.data(), fast_scan_blocks(n), m, lut.data(), out.data());
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 65535) << simd_level_name(k->level);
  }
}

std::vector<float> random_float_lut(std::mt19937& rng, size_t m, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> lut(m * 16);
  for (auto& v : lut) v = u(rng);
  return lut;
}

TEST(FastScanQuantize, ErrorWithinReportedBoundAndSumsFitUint16) {
  std::mt19937 rng(4);
  for (size_t m : {1, 2, 7, 16, 64, 98, 196, 300, 784, 2000}) {
    for (float scale : {1e-3f, 1.0f, 1e4f}) {
      auto lut = random_float_lut(rng, m, scale);
      // One row with a much wider range than the others: scale follows the widest row.
      for (size_t c = 0; c < 16; ++c) lut[c] *= 3.0f;
      std::vector<uint8_t> lut8(fast_scan_lut_bytes(m));
      const LutQuantization q = fast_scan_quantize_lut(lut.data(), m, lut8.data());
      ASSERT_GT(q.scale, 0.0f);
      for (size_t i = m * 16; i < lut8.size(); ++i) ASSERT_EQ(lut8[i], 0) << "padding row";
      uint32_t worst_case = 0;
      for (size_t sq = 0; sq < m; ++sq) worst_case += *std::max_element(&lut8[sq * 16], &lut8[sq * 16] + 16);
      ASSERT_LT(worst_case, 65535u) << "M=" << m;
      const size_t n = 100;
      auto codes = random_codes(rng, n, m);
      auto blocks = packed(codes, n, m);
      std::vector<uint16_t> out(fast_scan_blocks(n) * 32);
      fast_scan_kernels().accumulate(blocks.data(), fast_scan_blocks(n), m, lut8.data(), out.data());
      for (size_t i = 0; i < n; ++i) {
        double exact = 0.0, magnitude = 0.0;
        for (size_t sq = 0; sq < m; ++sq) {
          exact += lut[sq * 16 + codes[i * m + sq]];
          magnitude += std::fabs(lut[sq * 16 + codes[i * m + sq]]);
        }
        ASSERT_EQ(out[i], naive_sum(codes.data() + i * m, m, lut8.data()));
        const double approx = q.distance(out[i]);
        ASSERT_LE(std::fabs(approx - exact), q.max_error + 1e-6 * magnitude + 1e-6 * std::fabs(q.bias))
            << "M=" << m << " scale=" << scale;
      }
    }
  }
}

TEST(FastScanQuantize, EveryLevelProducesTheScalarBytes) {
  std::mt19937 rng(8);
  const FastScanKernels* ref = fast_scan_kernels_for(SimdLevel::kScalar);
  for (const FastScanKernels* k : available_levels()) {
    for (size_t m : {1, 2, 3, 16, 33, 98, 196, 257, 300, 784, 1500}) {
      for (float scale : {1e-3f, 1.0f, 1e4f}) {
        auto lut = random_float_lut(rng, m, scale);
        lut[5] = lut[6];  // ties
        std::vector<uint8_t> want(fast_scan_lut_bytes(m), 0xAB), got(fast_scan_lut_bytes(m), 0xCD);
        const LutQuantization qw = ref->quantize_lut(lut.data(), m, want.data());
        const LutQuantization qg = k->quantize_lut(lut.data(), m, got.data());
        ASSERT_EQ(got, want) << simd_level_name(k->level) << " M=" << m;
        ASSERT_EQ(qg.bias, qw.bias);
        ASSERT_EQ(qg.scale, qw.scale);
        ASSERT_EQ(qg.max_error, qw.max_error);
      }
    }
  }
}

// The fused a + 2 * b form (a list's term table plus the query's shared table) gives the bytes
// and parameters of quantizing the summed table, at every level.
TEST(FastScanQuantize, SumOfTwoTablesMatchesTheSummedTable) {
  std::mt19937 rng(9);
  for (const FastScanKernels* k : available_levels()) {
    for (size_t m : {1, 3, 16, 98, 196, 257}) {
      auto a = random_float_lut(rng, m, 100.0f);
      auto b = random_float_lut(rng, m, 30.0f);
      for (auto& v : b) v -= 40.0f;  // negative terms, as -<q, y> often is
      std::vector<float> sum(a.size());
      for (size_t i = 0; i < a.size(); ++i) sum[i] = a[i] + 2.0f * b[i];
      std::vector<uint8_t> want(fast_scan_lut_bytes(m), 0xAB), got(fast_scan_lut_bytes(m), 0xCD);
      const LutQuantization qw = k->quantize_lut(sum.data(), m, want.data());
      const LutQuantization qg = k->quantize_lut_sum2(a.data(), b.data(), m, got.data());
      ASSERT_EQ(got, want) << simd_level_name(k->level) << " M=" << m;
      ASSERT_EQ(qg.bias, qw.bias);
      ASSERT_EQ(qg.scale, qw.scale);
      ASSERT_EQ(qg.max_error, qw.max_error);
    }
  }
}

TEST(FastScanQuantize, ConstantTableIsExact) {
  std::vector<float> lut(5 * 16, 2.5f);
  std::vector<uint8_t> lut8(fast_scan_lut_bytes(5));
  const LutQuantization q = fast_scan_quantize_lut(lut.data(), 5, lut8.data());
  EXPECT_FLOAT_EQ(q.distance(0), 12.5f);
  for (uint8_t b : lut8) EXPECT_EQ(b, 0);
}

// Records every report; keeps the threshold fixed.
class RecordingSink final : public FastScanSink {
 public:
  explicit RecordingSink(uint16_t threshold) : threshold_(threshold) {}
  uint16_t on_block(size_t block, uint32_t mask, const uint16_t* dist) override {
    for (size_t i = 0; i < 32; ++i) {
      if (mask >> i & 1) hits.push_back({block * 32 + i, dist[i]});
    }
    return threshold_;
  }
  std::vector<std::pair<size_t, uint16_t>> hits;

 private:
  uint16_t threshold_;
};

// Keeps the k smallest sums; the threshold is the k-th best once full.
class TopSink final : public FastScanSink {
 public:
  explicit TopSink(size_t k) : k_(k) {}
  uint16_t on_block(size_t block, uint32_t mask, const uint16_t* dist) override {
    for (size_t i = 0; i < 32; ++i) {
      if (!(mask >> i & 1)) continue;
      if (best.size() == k_ && dist[i] >= best.back()) continue;  // stale threshold within a block
      best.insert(std::upper_bound(best.begin(), best.end(), dist[i]), dist[i]);
      if (best.size() > k_) best.pop_back();
    }
    return best.size() == k_ ? best.back() : uint16_t{65535};
  }
  std::vector<uint16_t> best;

 private:
  size_t k_;
};

TEST(FastScanKernels, ThresholdScanReportsExactlyTheSumsBelow) {
  std::mt19937 rng(5);
  for (const FastScanKernels* k : available_levels()) {
    for (size_t m : kMs) {
      for (size_t n : kNs) {
        auto codes = random_codes(rng, n, m);
        auto blocks = packed(codes, n, m);
        auto lut = random_lut8(rng, m);
        std::vector<uint32_t> sums(n);
        for (size_t i = 0; i < n; ++i) sums[i] = naive_sum(codes.data() + i * m, m, lut.data());
        std::vector<uint32_t> sorted = sums;
        std::sort(sorted.begin(), sorted.end());
        // Thresholds at the median, at the minimum (nothing passes), and wide open.
        for (uint32_t thr : {sorted[n / 2], sorted[0], uint32_t{65535}}) {
          RecordingSink sink(static_cast<uint16_t>(thr));
          k->scan(blocks.data(), n, m, lut.data(), static_cast<uint16_t>(thr), sink);
          std::vector<std::pair<size_t, uint16_t>> want;
          for (size_t i = 0; i < n; ++i) {
            if (sums[i] < thr) want.push_back({i, static_cast<uint16_t>(sums[i])});
          }
          ASSERT_EQ(sink.hits, want) << trace(*k, m, n) << " thr=" << thr;
        }
      }
    }
  }
}

TEST(FastScanKernels, ShrinkingThresholdFindsTheTopK) {
  std::mt19937 rng(6);
  for (const FastScanKernels* k : available_levels()) {
    for (size_t m : {3, 16, 33, 98}) {
      for (size_t n : {65, 1000}) {
        for (size_t top : {1, 10, 50}) {
          auto codes = random_codes(rng, n, m);
          auto blocks = packed(codes, n, m);
          auto lut = random_lut8(rng, m);
          std::vector<uint16_t> want(n);
          for (size_t i = 0; i < n; ++i) want[i] = static_cast<uint16_t>(naive_sum(codes.data() + i * m, m, lut.data()));
          std::sort(want.begin(), want.end());
          want.resize(std::min(top, n));
          TopSink sink(top);
          k->scan(blocks.data(), n, m, lut.data(), 65535, sink);
          ASSERT_EQ(sink.best, want) << trace(*k, m, n) << " k=" << top;
        }
      }
    }
  }
}

TEST(FastScanKernels, ZeroThresholdScansNothing) {
  std::mt19937 rng(7);
  auto codes = random_codes(rng, 64, 8);
  auto blocks = packed(codes, 64, 8);
  auto lut = random_lut8(rng, 8);
  for (const FastScanKernels* k : available_levels()) {
    RecordingSink sink(0);
    k->scan(blocks.data(), 64, 8, lut.data(), 0, sink);
    EXPECT_TRUE(sink.hits.empty());
  }
}

TEST(FastScanKernels, DispatchedLevelIsAvailable) {
  EXPECT_EQ(fast_scan_kernels().level, detected_simd_level());
  EXPECT_NE(fast_scan_kernels_for(SimdLevel::kScalar), nullptr);
}

}  // namespace
}  // namespace vecstream

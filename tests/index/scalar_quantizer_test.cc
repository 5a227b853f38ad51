// ScalarQuantizer and its SIMD kernels: every kernel level against the scalar reference over
// awkward dimensions, the reconstruction error bound, prepared-query distances against decoded
// vectors for every metric (both the asymmetric float path and the uniform integer path),
// clipping, and persistence.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/distance.h"
#include "index/index_file.h"
#include "index/scalar_quantizer.h"
#include "index/sq8_kernels.h"
#include "support/index_checks.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;

TEST(Sq8KernelsTest, EveryLevelMatchesScalar) {
  const Sq8Kernels& ref = *sq8_kernels_for(SimdLevel::kScalar);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> uni(-300.0f, 300.0f), pos(0.0f, 2.0f);
  size_t levels = 0;
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    const Sq8Kernels* k = sq8_kernels_for(level);
    if (k == nullptr) continue;  // this CPU cannot run it
    ++levels;
    EXPECT_EQ(k->level, level);
    for (size_t d : {0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 200, 784}) {
      const size_t n = 5, stride = d + 3;  // codes not packed back to back
      std::vector<float> q(d), w(d);
      std::vector<uint8_t> codes(n * stride + 1);
      for (auto& v : q) v = uni(rng);
      for (auto& v : w) v = pos(rng);
      for (auto& c : codes) c = static_cast<uint8_t>(rng());
      std::vector<float> many(n);
      auto close = [](float a, float b) { return std::fabs(a - b) <= 1e-4f * (1.0f + std::fabs(b)); };
      k->l2_many(q.data(), w.data(), codes.data(), n, d, stride, many.data());
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* c = codes.data() + i * stride;
        const float want = ref.l2(q.data(), w.data(), c, d);
        EXPECT_TRUE(close(k->l2(q.data(), w.data(), c, d), want)) << simd_level_name(level) << " l2 d=" << d;
        EXPECT_TRUE(close(many[i], want)) << simd_level_name(level) << " l2_many d=" << d;
      }
      k->l1_many(q.data(), w.data(), codes.data(), n, d, stride, many.data());
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* c = codes.data() + i * stride;
        const float want = ref.l1(q.data(), w.data(), c, d);
        EXPECT_TRUE(close(k->l1(q.data(), w.data(), c, d), want)) << simd_level_name(level) << " l1 d=" << d;
        EXPECT_TRUE(close(many[i], want)) << simd_level_name(level) << " l1_many d=" << d;
      }
      k->dot_many(q.data(), codes.data(), n, d, stride, many.data());
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* c = codes.data() + i * stride;
        const float want = ref.dot(q.data(), c, d);
        // Signed weights: the sum can cancel, so compare against the magnitude of the terms.
        float mag = 0;
        for (size_t j = 0; j < d; ++j) mag += std::fabs(q[j]) * c[j];
        EXPECT_NEAR(k->dot(q.data(), c, d), want, 1e-5f * (1 + mag)) << simd_level_name(level) << " d=" << d;
        EXPECT_NEAR(many[i], want, 1e-5f * (1 + mag)) << simd_level_name(level) << " dot_many d=" << d;
      }
      // Integer weights at the extremes of int16 (the caller keeps the sum inside int32).
      std::vector<int16_t> wi(d);
      for (size_t j = 0; j < d; ++j) {
        wi[j] = static_cast<int16_t>(j % 5 == 0 ? (j % 2 ? -32768 : 32767) : static_cast<int16_t>(rng() % 4001) - 2000);
      }
      if (d > 0) codes[0] = 255;
      std::vector<int32_t> many_i(n);
      k->dot_i16_many(wi.data(), codes.data(), n, d, stride, many_i.data());
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* c = codes.data() + i * stride;
        int64_t want = 0;
        for (size_t j = 0; j < d; ++j) want += int64_t{wi[j]} * c[j];
        EXPECT_EQ(many_i[i], want) << simd_level_name(level) << " dot_i16_many d=" << d;
      }
    }
  }
  EXPECT_GE(levels, 1u);
  EXPECT_EQ(sq8_kernels().level, detected_simd_level());
}

TEST(ScalarQuantizerTest, ReconstructionWithinBound) {
  for (bool uniform : {false, true}) {
    const size_t n = 2000, d = 33;
    auto x = clustered(n, d, 10, 2);
    ScalarQuantizerParams p;
    p.uniform = uniform;
    auto sq = ScalarQuantizer::train(x, n, d, p);
    ASSERT_TRUE(sq.is_ok());
    const float bound = sq->max_l2_error();
    std::vector<uint8_t> code(d);
    std::vector<float> back(d);
    for (size_t i = 0; i < n; ++i) {
      sq->encode(x.data() + i * d, code.data());
      sq->decode(code.data(), back.data());
      for (size_t j = 0; j < d; ++j) {
        EXPECT_LE(std::fabs(back[j] - x[i * d + j]), 0.5f * sq->step(j) * 1.001f + 1e-6f);
      }
      EXPECT_LE(std::sqrt(kernels().l2sq(back.data(), x.data() + i * d, d)), bound * 1.001f);
    }
    if (uniform) {
      for (size_t j = 1; j < d; ++j) EXPECT_EQ(sq->step(j), sq->step(0));
    }
  }
  // A constant dimension decodes exactly; out-of-range values clamp to the ends.
  std::vector<float> c{1, 5, 1, 7, 1, 6};
  auto sq = ScalarQuantizer::train(c, 3, 2, {});
  ASSERT_TRUE(sq.is_ok());
  std::vector<float> v{1, 100}, back(2);
  std::vector<uint8_t> code(2);
  sq->encode(v.data(), code.data());
  sq->decode(code.data(), back.data());
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(code[1], 255);
  EXPECT_NEAR(back[1], 7.0f, 1e-5f);
}

// Prepared distances equal the metric's distance between the query and the decoded vector
// (asymmetric path), or between the decoded query and the decoded vector (uniform L2/L1).
TEST(ScalarQuantizerTest, PreparedDistancesMatchDecoded) {
  const size_t n = 300, d = 37;
  auto x = clustered(n, d, 5, 3);
  auto queries = clustered(10, d, 5, 4);
  for (bool uniform : {false, true}) {
    ScalarQuantizerParams p;
    p.uniform = uniform;
    auto sq = ScalarQuantizer::train(x, n, d, p);
    ASSERT_TRUE(sq.is_ok());
    std::vector<uint8_t> codes(n * d);
    for (size_t i = 0; i < n; ++i) sq->encode(x.data() + i * d, codes.data() + i * d);
    for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine, Metric::kL1}) {
      ScalarQuantizer::QueryScratch scratch;
      for (size_t qi = 0; qi < 10; ++qi) {
        std::vector<float> q(queries.begin() + qi * d, queries.begin() + (qi + 1) * d);
        const auto prepared = sq->prepare(q.data(), m, scratch);
        std::vector<float> got(n), dec(d), qdec(d);
        sq->distances(prepared, codes.data(), n, got.data());
        const bool symmetric = uniform && (m == Metric::kL2 || m == Metric::kL1);
        EXPECT_EQ(prepared.integer, symmetric);
        if (symmetric) {
          std::vector<uint8_t> qc(d);
          sq->encode(q.data(), qc.data());
          sq->decode(qc.data(), qdec.data());
        }
        for (size_t i = 0; i < n; ++i) {
          sq->decode(codes.data() + i * d, dec.data());
          const float* qq = symmetric ? qdec.data() : q.data();
          float want = 0;
          switch (m) {
            case Metric::kL2: want = kernels().l2sq(qq, dec.data(), d); break;
            case Metric::kL1: want = kernels().l1(qq, dec.data(), d); break;
            case Metric::kInnerProduct: want = -kernels().dot(qq, dec.data(), d); break;
            case Metric::kCosine: want = 1.0f - kernels().dot(qq, dec.data(), d); break;
          }
          EXPECT_NEAR(got[i], want, 2e-3f * (1 + std::fabs(want))) << metric_name(m) << " " << uniform;
          EXPECT_EQ(sq->distance(prepared, codes.data() + i * d), got[i]);
        }
      }
    }
  }
}

TEST(ScalarQuantizerTest, ClippingAndMargin) {
  // One huge outlier per dimension: clipping keeps the step of the bulk small.
  const size_t n = 1000, d = 4;
  auto x = clustered(n, d, 3, 5);
  for (size_t j = 0; j < d; ++j) x[j] = 1000.0f;
  ScalarQuantizerParams plain, clipped;
  clipped.clip_quantile = 0.01;
  auto a = ScalarQuantizer::train(x, n, d, plain);
  auto b = ScalarQuantizer::train(x, n, d, clipped);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  for (size_t j = 0; j < d; ++j) EXPECT_LT(b->step(j) * 20, a->step(j));
  ScalarQuantizerParams wide;
  wide.margin = 0.5f;
  auto c = ScalarQuantizer::train(x, n, d, wide);
  ASSERT_TRUE(c.is_ok());
  for (size_t j = 0; j < d; ++j) EXPECT_NEAR(c->step(j), 2 * a->step(j), 1e-3f * a->step(j));
}

TEST(ScalarQuantizerTest, BadArgumentsAndPersistence) {
  const size_t d = 5;
  auto x = clustered(40, d, 2, 6);
  EXPECT_EQ(ScalarQuantizer::train(x, 0, d).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ScalarQuantizer::train(x, 40, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ScalarQuantizer::train(x, 41, d).status().code(), StatusCode::kInvalidArgument);
  ScalarQuantizerParams p;
  p.clip_quantile = 0.5;
  EXPECT_EQ(ScalarQuantizer::train(x, 40, d, p).status().code(), StatusCode::kInvalidArgument);
  p.clip_quantile = 0;
  p.margin = -1;
  EXPECT_EQ(ScalarQuantizer::train(x, 40, d, p).status().code(), StatusCode::kInvalidArgument);
  auto bad = x;
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(ScalarQuantizer::train(bad, 40, d).status().code(), StatusCode::kInvalidArgument);

  ScalarQuantizerParams up;
  up.uniform = true;
  up.margin = 0.1f;
  auto sq = ScalarQuantizer::train(x, 40, d, up);
  ASSERT_TRUE(sq.is_ok());
  const std::string path = testing::temp_path("sq", "rt");
  {
    auto w = IndexFileWriter::open(path, IndexKind::kSq8Flat, 1);
    ASSERT_TRUE(w.is_ok());
    sq->save(**w);
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  auto r = IndexFileReader::open(path, IndexKind::kSq8Flat, 1);
  ASSERT_TRUE(r.is_ok());
  auto back = ScalarQuantizer::load(**r);
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(back->params().uniform);
  EXPECT_EQ(back->params().margin, 0.1f);
  for (size_t j = 0; j < d; ++j) {
    EXPECT_EQ(back->vmin(j), sq->vmin(j));
    EXPECT_EQ(back->step(j), sq->step(j));
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vecstream

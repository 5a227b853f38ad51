// ProductQuantizer: argument errors, reconstruction error bounds, ADC tables against decoded
// vectors for every metric, OPQ (orthogonal, better than plain PQ on correlated data, LAPACK and
// Jacobi SVD agree), the anisotropic loss (less parallel error and better MIPS recall than plain
// PQ), determinism over thread counts, and persistence.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "index/index_file.h"
#include "index/product_quantizer.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/vs_pq_" + name + "_" + std::to_string(::getpid());
}

PqParams params(size_t m, size_t nbits) {
  PqParams p;
  p.m = m;
  p.nbits = nbits;
  p.threads = 2;
  return p;
}

TEST(ProductQuantizerTest, BadArgumentsAreInvalidArgumentWithAReason) {
  auto data = clustered(300, 16, 4, 1);
  struct Case {
    size_t n, dim;
    PqParams p;
    const char* words;
  };
  PqParams eta_half = params(4, 8);
  eta_half.anisotropic_eta = 0.5f;
  const Case cases[] = {
      {300, 16, params(5, 8), "divide"},        // M does not divide d
      {300, 16, params(0, 8), "divide"},        // M = 0
      {300, 16, params(4, 6), "nbits"},         // 6 bits
      {200, 16, params(4, 8), "fewer than"},    // 200 rows < 256 centroids
      {300, 16, eta_half, "anisotropic_eta"},   // eta in (0, 1)
      {301, 16, params(4, 4), "n * dim"},       // shape mismatch
  };
  for (const Case& c : cases) {
    std::vector<float> x(data.begin(), data.begin() + std::min(data.size(), c.n * c.dim));
    if (c.n == 301) x = data;
    auto r = ProductQuantizer::train(x, c.n, c.dim, c.p);
    ASSERT_FALSE(r.is_ok()) << c.words;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.words), std::string::npos) << r.status().message();
  }
  data[7] = std::nanf("");
  EXPECT_EQ(ProductQuantizer::train(data, 300, 16, params(4, 4)).status().code(), StatusCode::kInvalidArgument);
}

TEST(ProductQuantizerTest, ReconstructionErrorWithinBoundsAndFallsWithBudget) {
  const size_t n = 4000, d = 32;
  auto data = clustered(n, d, 16, 2);
  double previous = 1e30;
  // More bits per dimension must mean less error: 4x4, 8x4, 8x8, 16x8 bits. The bounds on the
  // relative error are ~1.3x what these seeds give (the data's intrinsic dimension is 8).
  struct Shape {
    size_t m, nbits;
    double bound;
  };
  for (auto [m, nbits, bound] : {Shape{4, 4, 0.55}, Shape{8, 4, 0.36}, Shape{8, 8, 0.09}, Shape{16, 8, 0.01}}) {
    auto pq = ProductQuantizer::train(data, n, d, params(m, nbits));
    ASSERT_TRUE(pq.is_ok()) << pq.status().to_string();
    EXPECT_EQ(pq->code_size(), m);
    EXPECT_EQ(pq->ksub(), size_t{1} << nbits);
    const PqErrorStats st = pq->error_stats(data, n);
    EXPECT_LT(st.mse, previous) << "M=" << m << " nbits=" << nbits;
    previous = st.mse;
    std::printf("M=%zu nbits=%zu relative mse %.4f\n", m, nbits, st.relative_mse);
    EXPECT_LT(st.relative_mse, bound) << "M=" << m << " nbits=" << nbits;
    EXPECT_NEAR(st.parallel_mse + st.orthogonal_mse, st.mse, 1e-9 * st.mse + 1e-12);
  }
}

TEST(ProductQuantizerTest, DecodeIsAFixedPointOfEncode) {
  const size_t n = 1000, d = 24;
  auto data = clustered(n, d, 8, 3);
  auto pq = ProductQuantizer::train(data, n, d, params(6, 4));
  ASSERT_TRUE(pq.is_ok());
  std::vector<uint8_t> codes(n * 6), again(n * 6);
  std::vector<float> rec(n * d);
  pq->encode(data.data(), n, codes.data());
  for (uint8_t c : codes) ASSERT_LT(c, 16);
  pq->decode(codes.data(), n, rec.data());
  pq->encode(rec.data(), n, again.data());
  EXPECT_EQ(codes, again);
}

double ref_distance(Metric m, const float* a, const float* b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; ++i) {
    const double x = a[i], y = b[i];
    if (m == Metric::kL2) s += (x - y) * (x - y);
    if (m == Metric::kL1) s += std::fabs(x - y);
    if (m == Metric::kInnerProduct || m == Metric::kCosine) s -= x * y;
  }
  return s;
}

TEST(ProductQuantizerTest, AdcTablesMatchDecodedVectorsForEveryMetric) {
  const size_t n = 600, d = 20, nq = 10, m = 5;
  auto data = clustered(n, d, 6, 4);
  auto queries = clustered(nq, d, 6, 5);
  for (size_t nbits : {4, 8}) {
    for (bool opq : {false, true}) {
      PqParams p = params(m, nbits);
      p.opq = opq;
      p.opq_iterations = 3;
      auto pq = ProductQuantizer::train(data, n, d, p);
      ASSERT_TRUE(pq.is_ok());
      EXPECT_EQ(pq->has_rotation(), opq);
      std::vector<uint8_t> codes(n * m);
      pq->encode(data.data(), n, codes.data());
      std::vector<float> rec_r(n * d), qr(d), lut(m * pq->ksub());
      pq->decode_rotated(codes.data(), n, rec_r.data());
      for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kL1}) {
        for (size_t q = 0; q < nq; ++q) {
          pq->rotate(queries.data() + q * d, qr.data());
          pq->compute_lut(metric, qr.data(), lut.data());
          for (size_t i = 0; i < n; i += 37) {
            const double want = ref_distance(metric, qr.data(), rec_r.data() + i * d, d);
            EXPECT_NEAR(pq->adc(lut.data(), codes.data() + i * m), want, 1e-4 * (1 + std::fabs(want)))
                << "nbits=" << nbits << " metric=" << metric_name(metric);
          }
        }
      }
    }
  }
}

// Rows with strong correlations across sub-spaces: an 4-dimensional latent signal mixed into all
// 32 dimensions. A rotation can concentrate it; plain PQ's axis-aligned split cannot.
std::vector<float> correlated(size_t n, size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> mix(4 * d);
  for (auto& v : mix) v = g(rng);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n; ++i) {
    float z[4];
    for (float& v : z) v = g(rng) * 3.0f;
    for (size_t j = 0; j < d; ++j) {
      float s = 0.05f * g(rng);
      for (size_t l = 0; l < 4; ++l) s += mix[l * d + j] * z[l];
      x[i * d + j] = s;
    }
  }
  return x;
}

TEST(ProductQuantizerTest, OpqRotationIsOrthogonalAndBeatsPlainPqOnCorrelatedData) {
  const size_t n = 3000, d = 32;
  auto data = correlated(n, d, 6);
  PqParams plain = params(8, 4);
  PqParams rotated = plain;
  rotated.opq = true;
  auto a = ProductQuantizer::train(data, n, d, plain);
  auto b = ProductQuantizer::train(data, n, d, rotated);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  // R R^T = I, checked through rotate/unrotate of basis vectors.
  std::vector<float> e(d), r(d), back(d);
  for (size_t i = 0; i < d; ++i) {
    std::fill(e.begin(), e.end(), 0.0f);
    e[i] = 1.0f;
    b->rotate(e.data(), r.data());
    double norm = 0;
    for (float v : r) norm += double{v} * v;
    EXPECT_NEAR(norm, 1.0, 1e-4);
    b->unrotate(r.data(), back.data());
    for (size_t j = 0; j < d; ++j) EXPECT_NEAR(back[j], e[j], 1e-4);
  }
  const double mse_plain = a->error_stats(data, n).mse, mse_opq = b->error_stats(data, n).mse;
  std::printf("correlated data: plain PQ mse %.4f, OPQ mse %.4f\n", mse_plain, mse_opq);
  EXPECT_LT(mse_opq, 0.8 * mse_plain);
}

TEST(ProductQuantizerTest, JacobiSvdFallbackMatchesLapack) {
  const size_t n = 2000, d = 24;
  auto data = correlated(n, d, 7);
  PqParams p = params(6, 4);
  p.opq = true;
  p.opq_iterations = 4;
  auto lapack = ProductQuantizer::train(data, n, d, p);
  TEST_pq_force_jacobi_svd(true);
  auto jacobi = ProductQuantizer::train(data, n, d, p);
  TEST_pq_force_jacobi_svd(false);
  ASSERT_TRUE(lapack.is_ok() && jacobi.is_ok());
  const double a = lapack->error_stats(data, n).mse, b = jacobi->error_stats(data, n).mse;
  EXPECT_NEAR(a, b, 0.1 * a) << "LAPACK " << a << " Jacobi " << b;
  std::vector<float> e(d, 0.0f), r(d);
  e[3] = 1.0f;
  jacobi->rotate(e.data(), r.data());
  double norm = 0;
  for (float v : r) norm += double{v} * v;
  EXPECT_NEAR(norm, 1.0, 1e-4);
}

// Maximum inner product data: directions from clusters, norms spread over [0.5, 2].
std::vector<float> mips_data(size_t n, size_t d, uint64_t seed) {
  auto x = clustered(n, d, 32, seed);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<float> u(0.5f, 2.0f);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += double{x[i * d + j]} * x[i * d + j];
    const float scale = u(rng) / static_cast<float>(std::sqrt(s));
    for (size_t j = 0; j < d; ++j) x[i * d + j] *= scale;
  }
  return x;
}

double mips_recall(const ProductQuantizer& pq, const std::vector<float>& data, size_t n,
                   const std::vector<float>& queries, size_t nq, size_t k) {
  const size_t d = pq.dim(), m = pq.m();
  std::vector<uint8_t> codes(n * m);
  pq.encode(data.data(), n, codes.data());
  std::vector<float> lut(m * pq.ksub()), qr(d);
  double hits = 0;
  for (size_t q = 0; q < nq; ++q) {
    const float* qv = queries.data() + q * d;
    std::vector<std::pair<double, size_t>> exact(n), approx(n);
    pq.rotate(qv, qr.data());
    pq.compute_lut(Metric::kInnerProduct, qr.data(), lut.data());
    for (size_t i = 0; i < n; ++i) {
      exact[i] = {ref_distance(Metric::kInnerProduct, qv, data.data() + i * d, d), i};
      approx[i] = {pq.adc(lut.data(), codes.data() + i * m), i};
    }
    std::partial_sort(exact.begin(), exact.begin() + k, exact.end());
    std::partial_sort(approx.begin(), approx.begin() + k, approx.end());
    std::set<size_t> truth;
    for (size_t i = 0; i < k; ++i) truth.insert(exact[i].second);
    for (size_t i = 0; i < k; ++i) hits += truth.count(approx[i].second);
  }
  return hits / static_cast<double>(nq * k);
}

TEST(ProductQuantizerTest, AnisotropicLossCutsParallelErrorAndImprovesMipsRecall) {
  const size_t n = 6000, d = 32, nq = 200, k = 10;
  auto data = mips_data(n, d, 8);
  auto queries = clustered(nq, d, 32, 8);  // same cluster centres: queries near the data
  PqParams plain = params(8, 4);
  PqParams aniso = plain;
  aniso.anisotropic_eta = 8.0f;
  auto a = ProductQuantizer::train(data, n, d, plain);
  auto b = ProductQuantizer::train(data, n, d, aniso);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(b->anisotropic_eta(), 8.0f);
  const PqErrorStats sa = a->error_stats(data, n), sb = b->error_stats(data, n);
  const double ra = mips_recall(*a, data, n, queries, nq, k), rb = mips_recall(*b, data, n, queries, nq, k);
  std::printf("plain: parallel %.5f orthogonal %.5f recall %.3f | eta=8: parallel %.5f orthogonal %.5f recall %.3f\n",
              sa.parallel_mse, sa.orthogonal_mse, ra, sb.parallel_mse, sb.orthogonal_mse, rb);
  EXPECT_LT(sb.parallel_mse, 0.7 * sa.parallel_mse);
  EXPECT_GT(sb.orthogonal_mse, sa.orthogonal_mse);  // the price: error moves to the orthogonal part
  EXPECT_GT(rb, ra + 0.02);
}

TEST(ProductQuantizerTest, TrainingIsDeterministicOverThreadCounts) {
  const size_t n = 1500, d = 16;
  auto data = clustered(n, d, 8, 9);
  PqParams p1 = params(4, 8), p2 = p1;
  p1.threads = 1;
  p2.threads = 3;
  auto a = ProductQuantizer::train(data, n, d, p1);
  auto b = ProductQuantizer::train(data, n, d, p2);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  for (size_t sq = 0; sq < 4; ++sq) {
    ASSERT_TRUE(std::equal(a->codebook(sq), a->codebook(sq) + 256 * 4, b->codebook(sq)));
  }
}

TEST(ProductQuantizerTest, SaveLoadRoundTripAndCorruptFields) {
  const size_t n = 800, d = 16;
  auto data = clustered(n, d, 8, 10);
  PqParams p = params(4, 4);
  p.opq = true;
  p.opq_iterations = 2;
  auto pq = ProductQuantizer::train(data, n, d, p);
  ASSERT_TRUE(pq.is_ok());
  const std::string path = temp_path("roundtrip");
  {
    auto w = IndexFileWriter::open(path, IndexKind::kIvfPq, 1);
    ASSERT_TRUE(w.is_ok());
    pq->save(**w);
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  auto r = IndexFileReader::open(path, IndexKind::kIvfPq, 1);
  ASSERT_TRUE(r.is_ok());
  auto back = ProductQuantizer::load(**r);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  std::vector<uint8_t> c1(n * 4), c2(n * 4);
  pq->encode(data.data(), n, c1.data());
  back->encode(data.data(), n, c2.data());
  EXPECT_EQ(c1, c2);
  EXPECT_TRUE(back->has_rotation());
  // A well-formed file whose fields contradict each other: M that does not divide dim.
  {
    auto w = IndexFileWriter::open(path, IndexKind::kIvfPq, 1);
    ASSERT_TRUE(w.is_ok());
    (*w)->put<uint64_t>(16);
    (*w)->put<uint64_t>(5);
    (*w)->put<uint32_t>(4);
    (*w)->put<float>(0.0f);
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  auto bad = IndexFileReader::open(path, IndexKind::kIvfPq, 1);
  ASSERT_TRUE(bad.is_ok());
  EXPECT_EQ(ProductQuantizer::load(**bad).status().code(), StatusCode::kCorruption);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vecstream

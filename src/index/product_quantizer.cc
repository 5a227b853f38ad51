// ProductQuantizer: k-means per sub-space, OPQ rotation by alternating Procrustes, anisotropic
// refinement, GEMM-based encoding, ADC tables (design in product_quantizer.h).
//
// Encoding a block of rows is one small GEMM per sub-space (distance_matrix: rows x centroids),
// so the 2^nbits * dim work per row runs in OpenBLAS' kernels rather than a scalar loop. The
// anisotropic path keeps, for the block, every row's distances and projections onto every
// centroid, and then runs coordinate descent on the per-row loss from those tables (its cost per
// sweep is M * 2^nbits per row, a fraction of the GEMM).
#include "index/product_quantizer.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "core/thread_pool.h"
#include "index/index_file.h"
#include "index/kmeans.h"

// LAPACK's SVD, when the BLAS on the link line carries it (OpenBLAS does). Weak, so a BLAS
// without LAPACK still links and OPQ falls back to the Jacobi SVD below. The two trailing
// arguments are the hidden lengths of the character arguments (gfortran ABI).
extern "C" void sgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, float* a,
                        const int* lda, float* s, float* u, const int* ldu, float* vt,
                        const int* ldvt, float* work, const int* lwork, int* info, size_t,
                        size_t) __attribute__((weak));

namespace vecstream {
namespace {

constexpr size_t kMaxDim = size_t{1} << 16;
constexpr size_t kMaxJacobiDim = 1024;
// Distance-table floats per encoded block (per table): about 4 MiB.
constexpr size_t kBlockFloats = size_t{1} << 20;
// Coordinate-descent sweeps per row in anisotropic encoding (it usually settles in 2-3).
constexpr size_t kMaxSweeps = 6;
// k-means iterations of the intermediate PQ trainings inside OPQ.
constexpr size_t kOpqPqIterations = 4;

bool g_force_jacobi = false;

uint32_t argmin(const float* v, size_t n) {
  uint32_t best = 0;
  for (size_t j = 1; j < n; ++j) {
    if (v[j] < v[best]) best = static_cast<uint32_t>(j);
  }
  return best;
}

// Unit vectors of n rows (zero rows stay zero: no direction, no anisotropic weight).
void unit_rows(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t t = 0; t < d; ++t) s += double{x[i * d + t]} * x[i * d + t];
    const float inv = s > 0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
    for (size_t t = 0; t < d; ++t) out[i * d + t] = x[i * d + t] * inv;
  }
}

// out (n x d) = x (n x d) R^T: rows rotated by R.
void rotate_rows(const float* x, size_t n, size_t d, const float* r, float* out) {
  if (n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(d),
              static_cast<int>(d), 1.0f, x, static_cast<int>(d), r, static_cast<int>(d), 0.0f, out,
              static_cast<int>(d));
}

// A seeded random orthogonal matrix (Gram-Schmidt on Gaussian rows, twice for stability).
std::vector<float> random_rotation(size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> q(d * d);
  for (size_t i = 0; i < d; ++i) {
    for (;;) {
      double* row = q.data() + i * d;
      for (size_t t = 0; t < d; ++t) row[t] = g(rng);
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t j = 0; j < i; ++j) {
          const double* other = q.data() + j * d;
          double dot = 0;
          for (size_t t = 0; t < d; ++t) dot += row[t] * other[t];
          for (size_t t = 0; t < d; ++t) row[t] -= dot * other[t];
        }
      }
      double norm = 0;
      for (size_t t = 0; t < d; ++t) norm += row[t] * row[t];
      if (norm > 1e-6) {
        const double inv = 1.0 / std::sqrt(norm);
        for (size_t t = 0; t < d; ++t) row[t] *= inv;
        break;
      }
    }
  }
  return std::vector<float>(q.begin(), q.end());
}

// Orthogonal polar factor for Procrustes by one-sided (Hestenes) Jacobi, in double.
// Given m (d x d row-major) = U S V^T, returns R = V U^T (row-major). Columns of m are rotated
// until orthogonal: m V = U S. Columns with a zero singular value get an orthonormal completion.
std::vector<float> polar_jacobi(const std::vector<float>& m, size_t d) {
  std::vector<double> g(d * d), v(d * d, 0.0);  // g[j] = column j of m V; v[j] = column j of V
  for (size_t i = 0; i < d; ++i) {
    for (size_t j = 0; j < d; ++j) g[j * d + i] = m[i * d + j];
    v[i * d + i] = 1.0;
  }
  auto dot = [d](const double* a, const double* b) {
    double s = 0;
    for (size_t t = 0; t < d; ++t) s += a[t] * b[t];
    return s;
  };
  for (int sweep = 0; sweep < 40; ++sweep) {
    double off = 0;
    for (size_t p = 0; p + 1 < d; ++p) {
      for (size_t q = p + 1; q < d; ++q) {
        double* gp = g.data() + p * d;
        double* gq = g.data() + q * d;
        const double alpha = dot(gp, gp), beta = dot(gq, gq), gamma = dot(gp, gq);
        if (gamma == 0.0 || std::fabs(gamma) <= 1e-15 * std::sqrt(alpha * beta)) continue;
        off = std::max(off, std::fabs(gamma) / std::sqrt(alpha * beta));
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / std::sqrt(1.0 + t * t), s = c * t;
        double* vp = v.data() + p * d;
        double* vq = v.data() + q * d;
        for (size_t k = 0; k < d; ++k) {
          const double a = gp[k], b = gq[k];
          gp[k] = c * a - s * b;
          gq[k] = s * a + c * b;
          const double va = vp[k], vb = vq[k];
          vp[k] = c * va - s * vb;
          vq[k] = s * va + c * vb;
        }
      }
    }
    if (off < 1e-12) break;
  }
  // U columns: g_j / sigma_j; degenerate ones completed by Gram-Schmidt on unit vectors.
  double sigma_max = 0;
  std::vector<double> sigma(d);
  for (size_t j = 0; j < d; ++j) {
    sigma[j] = std::sqrt(dot(g.data() + j * d, g.data() + j * d));
    sigma_max = std::max(sigma_max, sigma[j]);
  }
  std::vector<bool> done(d, false);
  for (size_t j = 0; j < d; ++j) {
    if (sigma[j] > 1e-9 * sigma_max && sigma[j] > 0) {
      for (size_t k = 0; k < d; ++k) g[j * d + k] /= sigma[j];
      done[j] = true;
    }
  }
  size_t next_axis = 0;
  for (size_t j = 0; j < d; ++j) {
    if (done[j]) continue;
    double* u = g.data() + j * d;
    for (;;) {
      std::fill(u, u + d, 0.0);
      u[next_axis++ % d] = 1.0;
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t o = 0; o < d; ++o) {
          if (!done[o]) continue;
          const double* w = g.data() + o * d;
          const double p = dot(u, w);
          for (size_t k = 0; k < d; ++k) u[k] -= p * w[k];
        }
      }
      const double norm = std::sqrt(dot(u, u));
      if (norm > 1e-6) {
        for (size_t k = 0; k < d; ++k) u[k] /= norm;
        done[j] = true;
        break;
      }
    }
  }
  std::vector<float> r(d * d);
  for (size_t a = 0; a < d; ++a) {
    for (size_t b = 0; b < d; ++b) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) s += v[j * d + a] * g[j * d + b];
      r[a * d + b] = static_cast<float>(s);
    }
  }
  return r;
}

// Same through LAPACK. Row-major m is column-major m^T = U' S VT', so R = V U^T = U' VT', and
// R^T computed column-major is R row-major.
bool polar_lapack(const std::vector<float>& m, size_t d, std::vector<float>* r) {
  if (sgesvd_ == nullptr || g_force_jacobi) return false;
  std::vector<float> a(m), s(d), u(d * d), vt(d * d);
  const int n = static_cast<int>(d);
  int lwork = -1, info = 0;
  float query = 0;
  sgesvd_("A", "A", &n, &n, a.data(), &n, s.data(), u.data(), &n, vt.data(), &n, &query, &lwork,
          &info, 1, 1);
  if (info != 0) return false;
  lwork = static_cast<int>(query) + 1;
  std::vector<float> work(static_cast<size_t>(lwork));
  sgesvd_("A", "A", &n, &n, a.data(), &n, s.data(), u.data(), &n, vt.data(), &n, work.data(),
          &lwork, &info, 1, 1);
  if (info != 0) return false;
  r->assign(d * d, 0.0f);
  cblas_sgemm(CblasColMajor, CblasTrans, CblasTrans, n, n, n, 1.0f, vt.data(), n, u.data(), n,
              0.0f, r->data(), n);
  return true;
}

std::vector<float> polar_factor(const std::vector<float>& m, size_t d) {
  std::vector<float> r;
  if (polar_lapack(m, d, &r)) return r;
  return polar_jacobi(m, d);
}

// Solves a (dsub x dsub, symmetric positive definite) y = b in place by Cholesky; false if a is
// not positive definite.
bool cholesky_solve(std::vector<double>& a, std::vector<double>& b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double s = a[j * n + j];
    for (size_t k = 0; k < j; ++k) s -= a[j * n + k] * a[j * n + k];
    if (!(s > 0)) return false;
    const double l = std::sqrt(s);
    a[j * n + j] = l;
    for (size_t i = j + 1; i < n; ++i) {
      double t = a[i * n + j];
      for (size_t k = 0; k < j; ++k) t -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = t / l;
    }
  }
  for (size_t i = 0; i < n; ++i) {  // L z = b
    double t = b[i];
    for (size_t k = 0; k < i; ++k) t -= a[i * n + k] * b[k];
    b[i] = t / a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // L^T y = z
    double t = b[i];
    for (size_t k = i + 1; k < n; ++k) t -= a[k * n + i] * b[k];
    b[i] = t / a[i * n + i];
  }
  return true;
}

Status check_train_args(std::span<const float> data, size_t n, size_t dim, const PqParams& p,
                        std::span<const float> directions) {
  if (dim == 0 || dim > kMaxDim) {
    return Status::invalid_argument("product quantizer: dimension must be in [1, 65536], got " +
                                    std::to_string(dim));
  }
  if (p.m == 0 || dim % p.m != 0) {
    return Status::invalid_argument("product quantizer: M = " + std::to_string(p.m) +
                                    " must be at least 1 and divide the dimension " +
                                    std::to_string(dim));
  }
  if (p.nbits != 4 && p.nbits != 8) {
    return Status::invalid_argument("product quantizer: nbits must be 4 or 8, got " +
                                    std::to_string(p.nbits));
  }
  const size_t ksub = size_t{1} << p.nbits;
  if (n < ksub) {
    return Status::invalid_argument("product quantizer: " + std::to_string(n) +
                                    " training rows are fewer than the " + std::to_string(ksub) +
                                    " centroids per sub-quantizer");
  }
  if (data.size() != n * dim) {
    return Status::invalid_argument("product quantizer: training data is " +
                                    std::to_string(data.size()) + " floats, expected n * dim = " +
                                    std::to_string(n * dim));
  }
  if (!directions.empty() && directions.size() != n * dim) {
    return Status::invalid_argument("product quantizer: directions must be empty or n * dim floats");
  }
  if (!all_finite(data.data(), data.size()) ||
      (!directions.empty() && !all_finite(directions.data(), directions.size()))) {
    return Status::invalid_argument("product quantizer: training data contains NaN or Inf");
  }
  if (!(p.anisotropic_eta == 0.0f || (p.anisotropic_eta >= 1.0f && p.anisotropic_eta <= 1e4f))) {
    return Status::invalid_argument("product quantizer: anisotropic_eta must be 0 (off) or in [1, 1e4]");
  }
  if (p.iterations == 0) return Status::invalid_argument("product quantizer: iterations must be >= 1");
  if (p.opq && dim > kMaxJacobiDim && (sgesvd_ == nullptr || g_force_jacobi)) {
    return Status::invalid_argument("product quantizer: OPQ above 1024 dimensions needs LAPACK");
  }
  return Status::ok();
}

}  // namespace

void TEST_pq_force_jacobi_svd(bool force) { g_force_jacobi = force; }

ProductQuantizer::ProductQuantizer(size_t dim, size_t m, size_t nbits)
    : dim_(dim), m_(m), nbits_(nbits), ksub_(size_t{1} << nbits), dsub_(dim / m),
      codebooks_(m * (size_t{1} << nbits) * (dim / m), 0.0f) {}

void ProductQuantizer::finish() {
  norms_.resize(m_ * ksub_);
  row_norms_sq(codebooks_.data(), m_ * ksub_, dsub_, norms_.data());
  transposed_.resize(codebooks_.size());
  for (size_t sq = 0; sq < m_; ++sq) {
    const float* cb = codebook(sq);
    float* t = transposed_.data() + sq * dsub_ * ksub_;
    for (size_t j = 0; j < ksub_; ++j) {
      for (size_t k = 0; k < dsub_; ++k) t[k * ksub_ + j] = cb[j * dsub_ + k];
    }
  }
}

Result<ProductQuantizer> ProductQuantizer::train(std::span<const float> data, size_t n, size_t dim,
                                                 const PqParams& p,
                                                 std::span<const float> directions) {
  VS_RETURN_IF_ERROR(check_train_args(data, n, dim, p, directions));
  ProductQuantizer pq(dim, p.m, p.nbits);

  // Seeded sample of at most ksub * max_points_per_centroid rows (partial Fisher-Yates).
  size_t ns = n;
  if (p.max_points_per_centroid != 0) ns = std::min(n, pq.ksub_ * p.max_points_per_centroid);
  std::vector<float> x(ns * dim), dirs;
  {
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937_64 rng(p.seed);
    if (ns < n) {
      for (size_t i = 0; i < ns; ++i) std::swap(order[i], order[i + rng() % (n - i)]);
      std::sort(order.begin(), order.begin() + ns);
    }
    const bool aniso = p.anisotropic_eta > 1.0f;
    if (aniso) dirs.resize(ns * dim);
    for (size_t i = 0; i < ns; ++i) {
      std::memcpy(x.data() + i * dim, data.data() + size_t{order[i]} * dim, dim * sizeof(float));
      if (aniso) {
        const float* src = directions.empty() ? data.data() : directions.data();
        std::memcpy(dirs.data() + i * dim, src + size_t{order[i]} * dim, dim * sizeof(float));
      }
    }
  }

  if (p.opq) {
    // Alternate: PQ on X R^T, then R from the Procrustes problem min |X R^T - Y|.
    pq.rotation_ = random_rotation(dim, p.seed ^ 0x0b0e5eedULL);
    std::vector<float> xr(ns * dim), y(ns * dim), mtx(dim * dim);
    std::vector<uint8_t> codes(ns * pq.m_);
    ThreadPool pool(p.threads);
    for (size_t it = 0; it < p.opq_iterations; ++it) {
      rotate_rows(x.data(), ns, dim, pq.rotation_.data(), xr.data());
      pq.train_codebooks(xr.data(), ns, p, kOpqPqIterations, p.seed + it, false);
      const size_t grain = 1024;
      pool.parallel_for((ns + grain - 1) / grain, 1, [&](size_t b0, size_t b1, size_t) {
        std::vector<float> scratch;
        for (size_t b = b0; b < b1; ++b) {
          const size_t r0 = b * grain, nr = std::min(grain, ns - r0);
          pq.encode_block(xr.data() + r0 * dim, nullptr, nr, codes.data() + r0 * pq.m_, scratch);
        }
      });
      pq.decode_rotated(codes.data(), ns, y.data());
      // mtx = X^T Y (dim x dim): min |X A - Y| over orthogonal A is A = polar(X^T Y); R = A^T.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(dim),
                  static_cast<int>(dim), static_cast<int>(ns), 1.0f, x.data(), static_cast<int>(dim),
                  y.data(), static_cast<int>(dim), 0.0f, mtx.data(), static_cast<int>(dim));
      pq.rotation_ = polar_factor(mtx, dim);
      if (p.progress) p.progress("train-opq", it + 1, p.opq_iterations);
    }
    rotate_rows(x.data(), ns, dim, pq.rotation_.data(), xr.data());
    x.swap(xr);
    if (!dirs.empty()) {
      std::vector<float> dr(ns * dim);
      rotate_rows(dirs.data(), ns, dim, pq.rotation_.data(), dr.data());
      dirs.swap(dr);
    }
  }

  pq.train_codebooks(x.data(), ns, p, p.iterations, p.seed, true);
  if (p.anisotropic_eta > 1.0f) {
    pq.eta_ = p.anisotropic_eta;
    pq.anisotropic_refine(x.data(), dirs.data(), ns, p);
  } else {
    pq.eta_ = p.anisotropic_eta;
  }
  return pq;
}

// k-means on each sub-space of the (rotated) sample, sub-spaces in parallel.
void ProductQuantizer::train_codebooks(const float* xr, size_t n, const PqParams& p,
                                       size_t iterations, uint64_t seed, bool report) {
  ThreadPool pool(p.threads);
  std::atomic<size_t> done{0};
  pool.parallel_for(m_, 1, [&](size_t s0, size_t s1, size_t worker) {
    std::vector<float> sub(n * dsub_);
    for (size_t sq = s0; sq < s1; ++sq) {
      for (size_t i = 0; i < n; ++i) {
        std::memcpy(sub.data() + i * dsub_, xr + i * dim_ + sq * dsub_, dsub_ * sizeof(float));
      }
      KMeansParams kp;
      kp.k = ksub_;
      kp.iterations = iterations;
      kp.max_points_per_centroid = 0;  // the sample is already drawn
      kp.seed = seed * 1000003ULL + sq;
      kp.threads = 1;
      auto km = kmeans(sub, n, dsub_, kp);
      // kmeans only fails on arguments checked above; keep zeros if it ever does.
      if (km.is_ok()) {
        std::memcpy(codebooks_.data() + sq * ksub_ * dsub_, km->centroids.data(),
                    ksub_ * dsub_ * sizeof(float));
      }
      const size_t finished = done.fetch_add(1) + 1;
      if (report && worker == 0 && p.progress) p.progress("train-pq", finished, m_);
    }
  });
  finish();
  if (report && p.progress) p.progress("train-pq", m_, m_);
}

// Alternates anisotropic code assignment and the weighted least-squares codebook update. For
// sub-space m and centroid y, over the rows i coded to it, the loss
//   sum_i |r_im - y|^2 + (eta - 1) (s_i + (r_im - y) . u_im)^2
// (u = unit direction, s_i = the parallel error of row i's other sub-spaces) is minimised by
//   [n I + (eta - 1) sum u u^T] y = sum r_im + (eta - 1) sum (s_i + r_im . u_im) u_im.
void ProductQuantizer::anisotropic_refine(const float* xr, const float* dirs_r, size_t n,
                                          const PqParams& p) {
  std::vector<float> units(n * dim_);
  unit_rows(dirs_r, n, dim_, units.data());
  std::vector<uint8_t> codes(n * m_);
  std::vector<double> s_total(n);
  ThreadPool pool(p.threads);
  const double w = static_cast<double>(eta_) - 1.0;
  for (size_t it = 0; it < p.anisotropic_iterations; ++it) {
    const size_t grain = 1024;
    pool.parallel_for((n + grain - 1) / grain, 1, [&](size_t b0, size_t b1, size_t) {
      std::vector<float> scratch;
      for (size_t b = b0; b < b1; ++b) {
        const size_t r0 = b * grain, nr = std::min(grain, n - r0);
        encode_block(xr + r0 * dim_, dirs_r + r0 * dim_, nr, codes.data() + r0 * m_, scratch);
      }
    });
    // Total parallel error of each row under the current codes.
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t sq = 0; sq < m_; ++sq) {
        const float* y = codebook(sq) + size_t{codes[i * m_ + sq]} * dsub_;
        const float* r = xr + i * dim_ + sq * dsub_;
        const float* u = units.data() + i * dim_ + sq * dsub_;
        for (size_t t = 0; t < dsub_; ++t) s += (double{r[t]} - y[t]) * u[t];
      }
      s_total[i] = s;
    }
    pool.parallel_for(m_, 1, [&](size_t s0, size_t s1, size_t) {
      const size_t ds = dsub_;
      std::vector<double> a(ksub_ * ds * ds), rhs(ksub_ * ds), cnt(ksub_);
      std::vector<double> aj(ds * ds), bj(ds);
      for (size_t sq = s0; sq < s1; ++sq) {
        std::fill(a.begin(), a.end(), 0.0);
        std::fill(rhs.begin(), rhs.end(), 0.0);
        std::fill(cnt.begin(), cnt.end(), 0.0);
        float* cb = codebooks_.data() + sq * ksub_ * ds;
        for (size_t i = 0; i < n; ++i) {
          const size_t j = codes[i * m_ + sq];
          const float* r = xr + i * dim_ + sq * ds;
          const float* u = units.data() + i * dim_ + sq * ds;
          const float* y = cb + j * ds;
          double ru = 0, eu = 0;
          for (size_t t = 0; t < ds; ++t) {
            ru += double{r[t]} * u[t];
            eu += (double{r[t]} - y[t]) * u[t];
          }
          const double coef = w * (s_total[i] - eu + ru);
          double* aa = a.data() + j * ds * ds;
          double* bb = rhs.data() + j * ds;
          cnt[j] += 1.0;
          for (size_t t = 0; t < ds; ++t) {
            bb[t] += r[t] + coef * u[t];
            for (size_t v = 0; v < ds; ++v) aa[t * ds + v] += w * u[t] * u[v];
          }
        }
        for (size_t j = 0; j < ksub_; ++j) {
          if (cnt[j] == 0) continue;  // unused centroid: keep it
          std::copy(a.begin() + j * ds * ds, a.begin() + (j + 1) * ds * ds, aj.begin());
          std::copy(rhs.begin() + j * ds, rhs.begin() + (j + 1) * ds, bj.begin());
          for (size_t t = 0; t < ds; ++t) aj[t * ds + t] += cnt[j];
          if (!cholesky_solve(aj, bj, ds)) continue;
          for (size_t t = 0; t < ds; ++t) cb[j * ds + t] = static_cast<float>(bj[t]);
        }
      }
    });
    finish();
    if (p.progress) p.progress("train-anisotropic", it + 1, p.anisotropic_iterations);
  }
}

void ProductQuantizer::rotate(const float* x, float* out) const {
  if (rotation_.empty()) {
    std::memcpy(out, x, dim_ * sizeof(float));
    return;
  }
  const DistanceKernels& k = kernels();
  for (size_t j = 0; j < dim_; ++j) out[j] = k.dot(rotation_.data() + j * dim_, x, dim_);
}

void ProductQuantizer::unrotate(const float* y, float* out) const {
  if (rotation_.empty()) {
    std::memcpy(out, y, dim_ * sizeof(float));
    return;
  }
  std::fill(out, out + dim_, 0.0f);
  for (size_t j = 0; j < dim_; ++j) {
    const float* row = rotation_.data() + j * dim_;
    const float yj = y[j];
    for (size_t i = 0; i < dim_; ++i) out[i] += row[i] * yj;
  }
}

// One block of rows. Plain: nearest centroid per sub-space from one GEMM each. Anisotropic:
// distances D[sq][i][j] = |r - y_j|^2 and projections P[sq][i][j] = <u, y_j> for every sub-space,
// then coordinate descent per row on |e|^2 + (eta - 1)(e . u)^2 from the plain codes.
void ProductQuantizer::encode_block(const float* xr, const float* dirs_r, size_t n, uint8_t* codes,
                                    std::vector<float>& scratch) const {
  const bool aniso = eta_ > 1.0f && dirs_r != nullptr;
  const size_t tables = aniso ? m_ : 1;
  const size_t rows = std::clamp<size_t>(kBlockFloats / (tables * ksub_), 8, 1024);
  const size_t nr_max = std::min(rows, n);
  const size_t table_floats = nr_max * ksub_;
  // Layout: D tables | P tables | sub-rows | sub-directions | units of the block.
  scratch.resize(2 * tables * table_floats + 2 * nr_max * dsub_ + (aniso ? nr_max * dim_ : 0));
  float* dist = scratch.data();
  float* proj = dist + tables * table_floats;
  float* sub = proj + tables * table_floats;
  float* subu = sub + nr_max * dsub_;
  float* units = subu + nr_max * dsub_;
  const double w = static_cast<double>(eta_) - 1.0;
  std::vector<double> epar(aniso ? m_ : 0), ru(aniso ? m_ : 0);

  for (size_t r0 = 0; r0 < n; r0 += rows) {
    const size_t nr = std::min(rows, n - r0);
    const float* x = xr + r0 * dim_;
    if (aniso) unit_rows(dirs_r + r0 * dim_, nr, dim_, units);
    for (size_t sq = 0; sq < m_; ++sq) {
      for (size_t i = 0; i < nr; ++i) {
        std::memcpy(sub + i * dsub_, x + i * dim_ + sq * dsub_, dsub_ * sizeof(float));
      }
      float* d = dist + (aniso ? sq * table_floats : 0);
      distance_matrix(Metric::kL2, sub, nr, codebook(sq), ksub_, dsub_, norms_.data() + sq * ksub_, d);
      for (size_t i = 0; i < nr; ++i) codes[(r0 + i) * m_ + sq] = static_cast<uint8_t>(argmin(d + i * ksub_, ksub_));
      if (aniso) {
        for (size_t i = 0; i < nr; ++i) {
          std::memcpy(subu + i * dsub_, units + i * dim_ + sq * dsub_, dsub_ * sizeof(float));
        }
        // kInnerProduct gives -<u, y>.
        distance_matrix(Metric::kInnerProduct, subu, nr, codebook(sq), ksub_, dsub_, nullptr,
                        proj + sq * table_floats);
      }
    }
    if (!aniso) continue;
    for (size_t i = 0; i < nr; ++i) {
      uint8_t* c = codes + (r0 + i) * m_;
      const float* r = x + i * dim_;
      const float* u = units + i * dim_;
      double s = 0;
      for (size_t sq = 0; sq < m_; ++sq) {
        double t = 0;
        for (size_t k = 0; k < dsub_; ++k) t += double{r[sq * dsub_ + k]} * u[sq * dsub_ + k];
        ru[sq] = t;
        epar[sq] = t + proj[sq * table_floats + i * ksub_ + c[sq]];  // r.u - y.u
        s += epar[sq];
      }
      for (size_t sweep = 0; sweep < kMaxSweeps; ++sweep) {
        bool changed = false;
        for (size_t sq = 0; sq < m_; ++sq) {
          const float* drow = dist + sq * table_floats + i * ksub_;
          const float* prow = proj + sq * table_floats + i * ksub_;
          const double rest = s - epar[sq] + ru[sq];
          uint32_t best = c[sq];
          double best_loss = std::numeric_limits<double>::infinity();
          for (size_t j = 0; j < ksub_; ++j) {
            const double par = rest + prow[j];
            const double loss = double{drow[j]} + w * par * par;
            if (loss < best_loss) {
              best_loss = loss;
              best = static_cast<uint32_t>(j);
            }
          }
          if (best != c[sq]) {
            changed = true;
            c[sq] = static_cast<uint8_t>(best);
            s -= epar[sq];
            epar[sq] = ru[sq] + prow[best];
            s += epar[sq];
          }
        }
        if (!changed) break;
      }
    }
  }
}

void ProductQuantizer::encode_rotated(const float* xr, size_t n, uint8_t* codes,
                                      const float* dirs_r) const {
  std::vector<float> scratch;
  encode_block(xr, dirs_r, n, codes, scratch);
}

void ProductQuantizer::encode(const float* x, size_t n, uint8_t* codes,
                              const float* directions) const {
  if (n == 0) return;
  const bool aniso = eta_ > 1.0f;
  if (rotation_.empty()) {
    encode_rotated(x, n, codes, aniso ? (directions != nullptr ? directions : x) : nullptr);
    return;
  }
  constexpr size_t kRows = 1024;
  std::vector<float> xr(std::min(n, kRows) * dim_), dr(aniso ? xr.size() : 0), scratch;
  for (size_t r0 = 0; r0 < n; r0 += kRows) {
    const size_t nr = std::min(kRows, n - r0);
    rotate_rows(x + r0 * dim_, nr, dim_, rotation_.data(), xr.data());
    if (aniso) {
      const float* src = directions != nullptr ? directions : x;
      rotate_rows(src + r0 * dim_, nr, dim_, rotation_.data(), dr.data());
    }
    encode_block(xr.data(), aniso ? dr.data() : nullptr, nr, codes + r0 * m_, scratch);
  }
}

void ProductQuantizer::decode_rotated(const uint8_t* codes, size_t n, float* out) const {
  for (size_t i = 0; i < n; ++i) {
    for (size_t sq = 0; sq < m_; ++sq) {
      std::memcpy(out + i * dim_ + sq * dsub_, codebook(sq) + size_t{codes[i * m_ + sq]} * dsub_,
                  dsub_ * sizeof(float));
    }
  }
}

void ProductQuantizer::decode(const uint8_t* codes, size_t n, float* out) const {
  decode_rotated(codes, n, out);
  if (rotation_.empty() || n == 0) return;
  // Rows y R: R^T applied to each row.
  std::vector<float> y(out, out + n * dim_);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(dim_),
              static_cast<int>(dim_), 1.0f, y.data(), static_cast<int>(dim_), rotation_.data(),
              static_cast<int>(dim_), 0.0f, out, static_cast<int>(dim_));
}

// Tables run over the transposed codebook (dimension-major), so 16 centroids' entries are four
// contiguous SSE registers accumulated dimension by dimension, in dimension order like the scalar
// distance kernels (one call per sub-space of a dispatched kernel would cost more than the
// arithmetic at dsub = 2..16).
namespace {
enum class TableOp { kL2, kNegDot, kL1 };

// Centroids are taken 16 at a time (four SSE registers, the x86-64 baseline, not a separate SIMD
// level) and accumulated over the sub-space's dimensions in registers; `ksub` is 16 or 256.
template <TableOp kOp>
void table_rows(const float* q, const float* transposed, size_t m, size_t dsub, size_t ksub,
                float* lut) {
  const __m128 sign = _mm_set1_ps(-0.0f);
  for (size_t sq = 0; sq < m; ++sq) {
    const float* qs = q + sq * dsub;
    const float* ct = transposed + sq * dsub * ksub;
    for (size_t j0 = 0; j0 < ksub; j0 += 16) {
      __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps(), a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps();
      for (size_t k = 0; k < dsub; ++k) {
        const __m128 qk = _mm_set1_ps(qs[k]);
        const float* c = ct + k * ksub + j0;
        const __m128 c0 = _mm_loadu_ps(c), c1 = _mm_loadu_ps(c + 4);
        const __m128 c2 = _mm_loadu_ps(c + 8), c3 = _mm_loadu_ps(c + 12);
        if constexpr (kOp == TableOp::kNegDot) {
          a0 = _mm_sub_ps(a0, _mm_mul_ps(qk, c0));
          a1 = _mm_sub_ps(a1, _mm_mul_ps(qk, c1));
          a2 = _mm_sub_ps(a2, _mm_mul_ps(qk, c2));
          a3 = _mm_sub_ps(a3, _mm_mul_ps(qk, c3));
        } else {
          const __m128 t0 = _mm_sub_ps(qk, c0), t1 = _mm_sub_ps(qk, c1);
          const __m128 t2 = _mm_sub_ps(qk, c2), t3 = _mm_sub_ps(qk, c3);
          if constexpr (kOp == TableOp::kL2) {
            a0 = _mm_add_ps(a0, _mm_mul_ps(t0, t0));
            a1 = _mm_add_ps(a1, _mm_mul_ps(t1, t1));
            a2 = _mm_add_ps(a2, _mm_mul_ps(t2, t2));
            a3 = _mm_add_ps(a3, _mm_mul_ps(t3, t3));
          } else {
            a0 = _mm_add_ps(a0, _mm_andnot_ps(sign, t0));
            a1 = _mm_add_ps(a1, _mm_andnot_ps(sign, t1));
            a2 = _mm_add_ps(a2, _mm_andnot_ps(sign, t2));
            a3 = _mm_add_ps(a3, _mm_andnot_ps(sign, t3));
          }
        }
      }
      float* row = lut + sq * ksub + j0;
      _mm_storeu_ps(row, a0);
      _mm_storeu_ps(row + 4, a1);
      _mm_storeu_ps(row + 8, a2);
      _mm_storeu_ps(row + 12, a3);
    }
  }
}

}  // namespace

void ProductQuantizer::compute_lut(Metric metric, const float* q, float* lut) const {
  const float* t = transposed_.data();
  switch (metric) {
    case Metric::kL2: table_rows<TableOp::kL2>(q, t, m_, dsub_, ksub_, lut); break;
    case Metric::kInnerProduct:
    case Metric::kCosine: table_rows<TableOp::kNegDot>(q, t, m_, dsub_, ksub_, lut); break;
    case Metric::kL1: table_rows<TableOp::kL1>(q, t, m_, dsub_, ksub_, lut); break;
  }
}

float ProductQuantizer::adc(const float* lut, const uint8_t* code) const {
  float s = 0.0f;
  for (size_t sq = 0; sq < m_; ++sq) s += lut[sq * ksub_ + code[sq]];
  return s;
}

PqErrorStats ProductQuantizer::error_stats(std::span<const float> data, size_t n) const {
  PqErrorStats st;
  if (n == 0 || data.size() < n * dim_) return st;
  constexpr size_t kRows = 1024;
  std::vector<uint8_t> codes(std::min(n, kRows) * m_);
  std::vector<float> rec(std::min(n, kRows) * dim_);
  double se = 0, sp = 0, sx = 0;
  for (size_t r0 = 0; r0 < n; r0 += kRows) {
    const size_t nr = std::min(kRows, n - r0);
    const float* x = data.data() + r0 * dim_;
    encode(x, nr, codes.data());
    decode(codes.data(), nr, rec.data());
    for (size_t i = 0; i < nr; ++i) {
      double e2 = 0, ex = 0, x2 = 0;
      for (size_t t = 0; t < dim_; ++t) {
        const double xv = x[i * dim_ + t], ev = xv - rec[i * dim_ + t];
        e2 += ev * ev;
        ex += ev * xv;
        x2 += xv * xv;
      }
      se += e2;
      sx += x2;
      if (x2 > 0) sp += ex * ex / x2;
    }
  }
  const double nn = static_cast<double>(n);
  st.mse = se / nn;
  st.relative_mse = sx > 0 ? se / sx : 0.0;
  st.parallel_mse = sp / nn;
  st.orthogonal_mse = st.mse - st.parallel_mse;
  return st;
}

void ProductQuantizer::save(IndexFileWriter& w) const {
  w.put<uint64_t>(dim_);
  w.put<uint64_t>(m_);
  w.put<uint32_t>(static_cast<uint32_t>(nbits_));
  w.put<float>(eta_);
  w.put_vector(codebooks_);
  w.put_vector(rotation_);
}

Result<ProductQuantizer> ProductQuantizer::load(IndexFileReader& r) {
  uint64_t dim = 0, m = 0;
  uint32_t nbits = 0;
  float eta = 0;
  VS_RETURN_IF_ERROR(r.get(&dim));
  VS_RETURN_IF_ERROR(r.get(&m));
  VS_RETURN_IF_ERROR(r.get(&nbits));
  VS_RETURN_IF_ERROR(r.get(&eta));
  if (dim == 0 || dim > kMaxDim) return r.truncated("product quantizer dimension");
  if (m == 0 || dim % m != 0) return r.truncated("product quantizer sub-quantizer count");
  if (nbits != 4 && nbits != 8) return r.truncated("product quantizer bits per code");
  if (!(eta == 0.0f || (eta >= 1.0f && eta <= 1e4f))) return r.truncated("product quantizer eta");
  ProductQuantizer pq(dim, m, nbits);
  pq.eta_ = eta;
  const size_t want = pq.codebooks_.size();
  VS_RETURN_IF_ERROR(r.get_vector(&pq.codebooks_, want));
  if (pq.codebooks_.size() != want) return r.truncated("product quantizer codebooks");
  VS_RETURN_IF_ERROR(r.get_vector(&pq.rotation_, dim * dim));
  if (!pq.rotation_.empty() && pq.rotation_.size() != dim * dim) {
    return r.truncated("product quantizer rotation");
  }
  if (!all_finite(pq.codebooks_.data(), pq.codebooks_.size()) ||
      !all_finite(pq.rotation_.data(), pq.rotation_.size())) {
    return r.truncated("product quantizer tables (non-finite value)");
  }
  pq.finish();
  return pq;
}

}  // namespace vecstream

// AVX-512BW fast-scan kernels (layout and arithmetic: fast_scan.h). Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma; reached only through
// fast_scan_kernels_for(), which checks CPUID first.
//
// vpshufb on a zmm register looks up four 16-entry tables at once (one per 128-bit lane), so one
// 64-byte load of codes and one of tables cover two pairs of sub-quantizers. An odd number of
// pairs ends with byte-masked loads of the last 32 bytes: the masked-off lanes load as zero codes
// and zero tables, which add nothing. The block's 32 sums end up in one zmm in vector order (see
// combine()), and the threshold scan is a single unsigned compare into a 32-bit mask.
//
// Everything here has internal linkage and uses no inline function from a shared header: a
// COMDAT copy compiled with AVX-512 must never be picked by the linker for baseline code.

// GCC 12's immintrin.h builds 512-bit values from _mm256_undefined_*(), a self-initialised
// variable that trips -Werror=uninitialized once inlined (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "core/fast_scan.h"

namespace vecstream {
namespace {

constexpr size_t kPrefetchAhead = 2;     // scan: blocks requested ahead of the one summed
constexpr size_t kCachedRowMins = 1024;  // table quantization: row minima kept between passes

// Requests one packed block (fast_scan_block_bytes) ahead of its use: a list's blocks come from
// DRAM more often than not, and the sums of one block take less time than a miss.
inline void prefetch_block(const uint8_t* block, size_t bytes) {
  const char* p = reinterpret_cast<const char*>(block);
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

struct Accumulators {
  __m512i a0, a1, a2, a3;  // (even + 256*odd) and odd, for low and high nibbles
};

inline void step(Accumulators& acc, __m512i c, __m512i lut) {
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  const __m512i clo = _mm512_and_si512(c, nibble);
  const __m512i chi = _mm512_and_si512(_mm512_srli_epi16(c, 4), nibble);
  const __m512i rlo = _mm512_shuffle_epi8(lut, clo);
  const __m512i rhi = _mm512_shuffle_epi8(lut, chi);
  acc.a0 = _mm512_add_epi16(acc.a0, rlo);
  acc.a1 = _mm512_add_epi16(acc.a1, _mm512_srli_epi16(rlo, 8));
  acc.a2 = _mm512_add_epi16(acc.a2, rhi);
  acc.a3 = _mm512_add_epi16(acc.a3, _mm512_srli_epi16(rhi, 8));
}

// Sums the four 128-bit lanes of a, b, c, d (8 uint16 each) into [a, b, c, d].
inline __m512i reduce_lanes(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi16(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                                      _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512i cd = _mm512_add_epi16(_mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                                      _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
  // ab = [a0+a2, a1+a3, b0+b2, b1+b3], cd likewise.
  return _mm512_add_epi16(_mm512_shuffle_i64x2(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i64x2(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
}

// The 32 sums of one block, vectors 0..31 in order.
inline __m512i accumulate_block(const uint8_t* codes, size_t pairs, const uint8_t* lut8) {
  Accumulators acc{_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                   _mm512_setzero_si512()};
  size_t p = 0;
  for (; p + 2 <= pairs; p += 2) {
    step(acc, _mm512_loadu_si512(codes + p * 32), _mm512_loadu_si512(lut8 + p * 32));
  }
  if (p < pairs) {
    const __mmask64 half = 0xffffffffull;
    step(acc, _mm512_maskz_loadu_epi8(half, codes + p * 32), _mm512_maskz_loadu_epi8(half, lut8 + p * 32));
  }
  const __m512i even_lo = _mm512_sub_epi16(acc.a0, _mm512_slli_epi16(acc.a1, 8));  // vectors 0..7
  const __m512i even_hi = _mm512_sub_epi16(acc.a2, _mm512_slli_epi16(acc.a3, 8));  // 16..23
  return reduce_lanes(even_lo, acc.a1, even_hi, acc.a3);
}

void accumulate(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* lut8,
                uint16_t* out) {
  const size_t pairs = fast_scan_padded_m(m) / 2;
  const size_t bb = fast_scan_block_bytes(m);
  for (size_t b = 0; b < nblocks; ++b) {
    _mm512_storeu_si512(out + b * 32, accumulate_block(blocks + b * bb, pairs, lut8));
  }
}

void scan(const uint8_t* blocks, size_t n, size_t m, const uint8_t* lut8, uint16_t threshold,
          FastScanSink& sink) {
  const size_t pairs = fast_scan_padded_m(m) / 2;
  const size_t bb = fast_scan_block_bytes(m);
  const size_t nblocks = fast_scan_blocks(n);
  if (threshold == 0) return;
  __m512i thr = _mm512_set1_epi16(static_cast<short>(threshold));
  alignas(64) uint16_t dist[32];
  for (size_t b = 0; b < nblocks; ++b) {
    if (b + kPrefetchAhead < nblocks) prefetch_block(blocks + (b + kPrefetchAhead) * bb, bb);
    const __m512i s = accumulate_block(blocks + b * bb, pairs, lut8);
    uint32_t mask = _mm512_cmplt_epu16_mask(s, thr);
    const size_t valid = n - b * 32;
    if (valid < 32) mask &= (uint32_t{1} << valid) - 1;
    if (mask == 0) continue;
    _mm512_store_si512(dist, s);
    threshold = sink.on_block(b, mask, dist);
    if (threshold == 0) return;
    thr = _mm512_set1_epi16(static_cast<short>(threshold));
  }
}

// One register per 16-entry row; same arithmetic as the scalar reference (separate sub, mul and
// add; min/max exact in any order), so the bytes are identical.
// row_of(sq) loads row sq: the table, or a + 2 * b.
template <class RowFn>
LutQuantization quantize_rows(RowFn row_of, size_t m, uint8_t* lut8) {
  double bias = 0.0, sum_range = 0.0;
  float max_range = 0.0f;
  float row_min[kCachedRowMins];  // the first pass's row minima, reused by the second
  for (size_t sq = 0; sq < m; ++sq) {
    const __m512 row = row_of(sq);
    const float lo = _mm512_reduce_min_ps(row), hi = _mm512_reduce_max_ps(row);
    if (sq < kCachedRowMins) row_min[sq] = lo;
    bias += lo;
    sum_range += double{hi} - double{lo};
    max_range = hi - lo > max_range ? hi - lo : max_range;
  }
  const LutQuantization q = internal::lut_quantization(bias, sum_range, max_range, m);
  const __m512 scale = _mm512_set1_ps(q.scale), half = _mm512_set1_ps(0.5f), top = _mm512_set1_ps(255.0f);
  for (size_t sq = 0; sq < m; ++sq) {
    const __m512 row = row_of(sq);
    const __m512 lo = _mm512_set1_ps(sq < kCachedRowMins ? row_min[sq] : _mm512_reduce_min_ps(row));
    const __m512 v = _mm512_min_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(row, lo), scale), half), top);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lut8 + sq * 16), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
  }
  if (m & 1) _mm_storeu_si128(reinterpret_cast<__m128i*>(lut8 + m * 16), _mm_setzero_si128());
  return q;
}

LutQuantization quantize_lut(const float* lut, size_t m, uint8_t* lut8) {
  return quantize_rows([lut](size_t sq) { return _mm512_loadu_ps(lut + sq * 16); }, m, lut8);
}

LutQuantization quantize_lut_sum2(const float* a, const float* b, size_t m, uint8_t* lut8) {
  const __m512 two = _mm512_set1_ps(2.0f);
  return quantize_rows(
      [a, b, two](size_t sq) {
        return _mm512_add_ps(_mm512_loadu_ps(a + sq * 16), _mm512_mul_ps(two, _mm512_loadu_ps(b + sq * 16)));
      },
      m, lut8);
}

constexpr FastScanKernels kAvx512Kernels = {
    .level = SimdLevel::kAvx512,
    .accumulate = accumulate,
    .scan = scan,
    .quantize_lut = quantize_lut,
    .quantize_lut_sum2 = quantize_lut_sum2,
};

}  // namespace

namespace internal {
const FastScanKernels& fast_scan_avx512_kernels() { return kAvx512Kernels; }
}  // namespace internal

}  // namespace vecstream

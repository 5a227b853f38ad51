// Fast-scan packing, table quantization, the scalar reference kernels and the per-level dispatch.
//
// Compiled at the baseline ISA. The scalar kernels read codes through the same layout functions
// the packer uses, so they define what every SIMD level must reproduce bit for bit
// (tests/core/fast_scan_test.cc); they are also what a CPU without AVX2 runs.
#include "core/fast_scan.h"

#include <algorithm>

namespace vecstream {
namespace {

// Byte offset (from the block start) and nibble of vector i (0..31) for sub-quantizer sq.
struct Slot {
  size_t byte;
  bool high;
};

inline Slot slot_of(size_t i, size_t sq) {
  const size_t v = i & 15;
  const size_t j = v < 8 ? 2 * v : 2 * (v - 8) + 1;
  return {(sq >> 1) * 32 + (sq & 1) * 16 + j, i >= 16};
}

inline uint8_t* block_ptr(uint8_t* blocks, size_t m, size_t i) {
  return blocks + (i / kFastScanBlockSize) * fast_scan_block_bytes(m);
}

// Reference: one block's 32 sums, looked up code by code.
void accumulate_block_scalar(const uint8_t* block, size_t m, const uint8_t* lut8, uint16_t* out) {
  const size_t mp = fast_scan_padded_m(m);
  for (size_t i = 0; i < kFastScanBlockSize; ++i) {
    uint32_t sum = 0;
    for (size_t sq = 0; sq < mp; ++sq) {
      const Slot s = slot_of(i, sq);
      const uint8_t code = s.high ? (block[s.byte] >> 4) : (block[s.byte] & 15);
      sum += lut8[sq * kFastScanKsub + code];
    }
    out[i] = static_cast<uint16_t>(sum);
  }
}

void accumulate_scalar(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* lut8,
                       uint16_t* out) {
  const size_t bb = fast_scan_block_bytes(m);
  for (size_t b = 0; b < nblocks; ++b) {
    accumulate_block_scalar(blocks + b * bb, m, lut8, out + b * kFastScanBlockSize);
  }
}

void scan_scalar(const uint8_t* blocks, size_t n, size_t m, const uint8_t* lut8,
                 uint16_t threshold, FastScanSink& sink) {
  const size_t bb = fast_scan_block_bytes(m);
  const size_t nblocks = fast_scan_blocks(n);
  uint16_t dist[kFastScanBlockSize];
  for (size_t b = 0; b < nblocks && threshold > 0; ++b) {
    accumulate_block_scalar(blocks + b * bb, m, lut8, dist);
    const size_t valid = std::min(kFastScanBlockSize, n - b * kFastScanBlockSize);
    uint32_t mask = 0;
    for (size_t i = 0; i < valid; ++i) {
      if (dist[i] < threshold) mask |= uint32_t{1} << i;
    }
    if (mask != 0) threshold = sink.on_block(b, mask, dist);
  }
}

// Row sq of the table, written to `out` (16 floats): the plain table, or a + 2 * b.
template <class RowFn>
LutQuantization quantize_rows_scalar(RowFn row_of, size_t m, uint8_t* lut8) {
  double bias = 0.0, sum_range = 0.0;
  float max_range = 0.0f;
  float row[kFastScanKsub];
  for (size_t sq = 0; sq < m; ++sq) {
    row_of(sq, row);
    float lo = row[0], hi = row[0];
    for (size_t c = 1; c < kFastScanKsub; ++c) {
      lo = std::min(lo, row[c]);
      hi = std::max(hi, row[c]);
    }
    bias += lo;
    sum_range += double{hi} - double{lo};
    max_range = std::max(max_range, hi - lo);
  }
  const LutQuantization q = internal::lut_quantization(bias, sum_range, max_range, m);
  for (size_t sq = 0; sq < m; ++sq) {
    row_of(sq, row);
    float lo = row[0];
    for (size_t c = 1; c < kFastScanKsub; ++c) lo = std::min(lo, row[c]);
    for (size_t c = 0; c < kFastScanKsub; ++c) {
      // (row - lo) * scale is in [0, 255] up to float rounding; +0.5 and truncation round.
      const float v = std::min((row[c] - lo) * q.scale + 0.5f, 255.0f);
      lut8[sq * kFastScanKsub + c] = static_cast<uint8_t>(static_cast<int32_t>(v));
    }
  }
  std::fill(lut8 + m * kFastScanKsub, lut8 + fast_scan_padded_m(m) * kFastScanKsub, uint8_t{0});
  return q;
}

LutQuantization quantize_lut_scalar(const float* lut, size_t m, uint8_t* lut8) {
  return quantize_rows_scalar(
      [lut](size_t sq, float* out) { std::copy_n(lut + sq * kFastScanKsub, kFastScanKsub, out); }, m, lut8);
}

LutQuantization quantize_lut_sum2_scalar(const float* a, const float* b, size_t m, uint8_t* lut8) {
  return quantize_rows_scalar(
      [a, b](size_t sq, float* out) {
        for (size_t c = 0; c < kFastScanKsub; ++c) {
          out[c] = a[sq * kFastScanKsub + c] + 2.0f * b[sq * kFastScanKsub + c];
        }
      },
      m, lut8);
}

constexpr FastScanKernels kScalarKernels = {
    .level = SimdLevel::kScalar,
    .accumulate = accumulate_scalar,
    .scan = scan_scalar,
    .quantize_lut = quantize_lut_scalar,
    .quantize_lut_sum2 = quantize_lut_sum2_scalar,
};

}  // namespace

uint8_t fast_scan_get(const uint8_t* blocks, size_t m, size_t i, size_t sq) {
  const uint8_t* block = blocks + (i / kFastScanBlockSize) * fast_scan_block_bytes(m);
  const Slot s = slot_of(i % kFastScanBlockSize, sq);
  return s.high ? static_cast<uint8_t>(block[s.byte] >> 4) : static_cast<uint8_t>(block[s.byte] & 15);
}

void fast_scan_set(uint8_t* blocks, size_t m, size_t i, size_t sq, uint8_t code) {
  uint8_t* block = block_ptr(blocks, m, i);
  const Slot s = slot_of(i % kFastScanBlockSize, sq);
  uint8_t& byte = block[s.byte];
  code &= 15;
  byte = s.high ? static_cast<uint8_t>((byte & 0x0f) | (code << 4))
                : static_cast<uint8_t>((byte & 0xf0) | code);
}

void fast_scan_store(uint8_t* blocks, size_t m, size_t i, const uint8_t* codes) {
  for (size_t sq = 0; sq < m; ++sq) fast_scan_set(blocks, m, i, sq, codes[sq]);
  if (m & 1) fast_scan_set(blocks, m, i, m, 0);
}

void fast_scan_move(uint8_t* blocks, size_t m, size_t from, size_t to) {
  if (from == to) return;
  for (size_t sq = 0; sq < m; ++sq) fast_scan_set(blocks, m, to, sq, fast_scan_get(blocks, m, from, sq));
}

void fast_scan_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* blocks) {
  const size_t bytes = fast_scan_blocks(n) * fast_scan_block_bytes(m);
  std::fill(blocks, blocks + bytes, uint8_t{0});
  for (size_t i = 0; i < n; ++i) {
    for (size_t sq = 0; sq < m; ++sq) fast_scan_set(blocks, m, i, sq, codes[i * m + sq]);
  }
}

void fast_scan_unpack(const uint8_t* blocks, size_t n, size_t m, uint8_t* codes) {
  for (size_t i = 0; i < n; ++i) {
    for (size_t sq = 0; sq < m; ++sq) codes[i * m + sq] = fast_scan_get(blocks, m, i, sq);
  }
}

LutQuantization fast_scan_quantize_lut(const float* lut, size_t m, uint8_t* lut8) {
  return fast_scan_kernels().quantize_lut(lut, m, lut8);
}

namespace internal {
LutQuantization lut_quantization(double bias, double sum_range, float max_range, size_t m) {
  LutQuantization q;
  q.bias = static_cast<float>(bias);
  if (max_range > 0.0f) {
    const double by_entry = 255.0 / max_range;
    const double by_sum = (65535.0 - static_cast<double>(m)) / sum_range;
    q.scale = static_cast<float>(std::min(by_entry, by_sum));
  }
  // Rounding (0.5 per entry) plus a margin for the float arithmetic of (lut - min) * scale.
  q.max_error = static_cast<float>((0.5 + 1e-3) * static_cast<double>(m) / q.scale);
  return q;
}
}  // namespace internal

const FastScanKernels* fast_scan_kernels_for(SimdLevel level) {
  if (kernels_for(level) == nullptr) return nullptr;  // the CPU cannot run this level
  switch (level) {
    case SimdLevel::kScalar: return &kScalarKernels;
    case SimdLevel::kAvx2: return &internal::fast_scan_avx2_kernels();
    case SimdLevel::kAvx512: return &internal::fast_scan_avx512_kernels();
  }
  return nullptr;
}

const FastScanKernels& fast_scan_kernels() {
  static const FastScanKernels* const table = fast_scan_kernels_for(detected_simd_level());
  return *table;
}

namespace internal {
const FastScanKernels& fast_scan_scalar_kernels() { return kScalarKernels; }
}  // namespace internal

}  // namespace vecstream

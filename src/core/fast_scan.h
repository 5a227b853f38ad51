// 4-bit product-quantization "fast scan": distances of 32 coded vectors at a time from 8-bit
// lookup tables held in SIMD registers (André et al., "Quicker ADC", 2017; FAISS IndexPQFastScan).
//
// Why: with 16 centroids per sub-quantizer, one sub-quantizer's lookup table (16 entries of one
// byte) fits in a 128-bit register lane, and vpshufb performs 16 (AVX2: 32, AVX-512: 64) table
// lookups in one instruction, indexed by 4-bit codes. A scan then streams packed codes at memory
// speed instead of doing one L1 gather per code as float ADC does.
//
// Block layout. Vectors are grouped 32 to a block; sub-quantizers in pairs (an odd M is padded
// with one sub-quantizer whose codes and table row are 0). A block is (M+1)/2 pair groups of 32
// bytes, pair after pair:
//
//   block = | pair 0 (sq 0, sq 1) | pair 1 (sq 2, sq 3) | ... |      32 bytes per pair
//   pair  = | 16 bytes: sub-quantizer 2p | 16 bytes: sub-quantizer 2p+1 |
//   byte j of a half (j = 0..15): low nibble  = code of vector v(j),
//                                 high nibble = code of vector 16 + v(j),
//                                 v(j) = j/2 for even j, 8 + j/2 for odd j.
//
// The matching quantized table of a pair is 32 bytes: 16 entries of sq 2p, then 16 of sq 2p+1, so
// one 32-byte load of codes and one of tables feed two vpshufb (low and high nibbles) that look up
// two sub-quantizers for 32 vectors. The lookups are summed as uint16 without unpacking: the
// byte pair (even, odd) of a 16-bit lane is added as one uint16, the odd bytes are also summed
// alone (lane >> 8), and at the end even = total - (odd << 8). The interleaved v(j) makes the
// even bytes vectors 0..7 and the odd bytes vectors 8..15 (16..31 for the high nibbles), so the 32
// sums come out in vector order after one lane reduction. AVX-512 runs two pairs per 64-byte load.
//
// Table quantization. A float table (M x 16, smaller = closer) becomes bytes with one scale and
// per-row offsets: q[m][c] = round((lut[m][c] - min_m) * scale), bias = sum_m min_m, and
//   approximate distance = bias + (sum_m q[m][code_m]) / scale.
// scale = min(255 / max_m range_m, (65535 - M) / sum_m range_m) keeps every entry in a byte and
// every sum of M entries below 65535, so the uint16 sums never wrap. Each entry is off by at most
// 0.5 / scale, hence |approximate - float ADC distance| <= M * 0.5 / scale (plus float rounding in
// the table arithmetic, ~1e-6 relative), reported as LutQuantization::max_error.
//
// Dispatch: one table of function pointers per SIMD level (fast_scan.cc: scalar reference,
// fast_scan_avx2.cc, fast_scan_avx512.cc), chosen once from CPUID and VECSTREAM_SIMD like
// distance.h; callers fetch it once per query.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/distance.h"

namespace vecstream {

inline constexpr size_t kFastScanBlockSize = 32;  // vectors per block
inline constexpr size_t kFastScanKsub = 16;       // centroids per sub-quantizer (4 bits)

/// Sub-quantizers after padding to a pair.
constexpr size_t fast_scan_padded_m(size_t m) { return (m + 1) & ~size_t{1}; }
/// Bytes of one packed block of 32 vectors.
constexpr size_t fast_scan_block_bytes(size_t m) { return fast_scan_padded_m(m) * 16; }
/// Blocks needed for n vectors.
constexpr size_t fast_scan_blocks(size_t n) { return (n + kFastScanBlockSize - 1) / kFastScanBlockSize; }
/// Bytes of a quantized table for M sub-quantizers (padded rows included).
constexpr size_t fast_scan_lut_bytes(size_t m) { return fast_scan_padded_m(m) * kFastScanKsub; }

/// Packs n vectors' codes (row-major n x m, one code < 16 per byte) into fast_scan_blocks(n)
/// blocks at `blocks` (fast_scan_blocks(n) * fast_scan_block_bytes(m) bytes). Vectors past n in
/// the last block, and the padding sub-quantizer, get code 0. Codes >= 16 are truncated to 4 bits.
void fast_scan_pack(const uint8_t* codes, size_t n, size_t m, uint8_t* blocks);
/// Inverse of fast_scan_pack for the first n vectors.
void fast_scan_unpack(const uint8_t* blocks, size_t n, size_t m, uint8_t* codes);
/// Code of vector i (counted from the first block) for sub-quantizer sq.
uint8_t fast_scan_get(const uint8_t* blocks, size_t m, size_t i, size_t sq);
/// Sets the code of vector i for sub-quantizer sq (code < 16).
void fast_scan_set(uint8_t* blocks, size_t m, size_t i, size_t sq, uint8_t code);
/// Writes the m codes at `codes` as vector i (used to append one vector to a list).
void fast_scan_store(uint8_t* blocks, size_t m, size_t i, const uint8_t* codes);
/// Copies vector `from` onto vector `to` within the same packed array (swap-remove).
void fast_scan_move(uint8_t* blocks, size_t m, size_t from, size_t to);

/// How a float table was turned into bytes; see the banner.
struct LutQuantization {
  float bias = 0.0f;       // sum over sub-quantizers of the row minima
  float scale = 1.0f;      // byte units per distance unit
  float max_error = 0.0f;  // bound on |approximate - float| for any code
  /// Distance that a uint16 sum stands for.
  float distance(uint32_t sum) const { return bias + static_cast<float>(sum) / scale; }
};

/// Quantizes `lut` (m rows of 16 floats, all finite) into `lut8` (fast_scan_lut_bytes(m) bytes;
/// the padding row is zeroed). m in [1, 65000]. Entries round half up. Runs the dispatched level
/// (fast_scan_kernels().quantize_lut).
LutQuantization fast_scan_quantize_lut(const float* lut, size_t m, uint8_t* lut8);

/// Receives the blocks of a threshold scan that hold candidates. Implemented by the caller (an
/// index keeps its heap here); one call per block with hits, never one per distance.
class FastScanSink {
 public:
  /// `block` counts from the start of the scanned array; bit i of `mask` is set when vector
  /// block*32+i exists and dist[i] is strictly below the current threshold; `dist` holds the 32
  /// sums of the block (padding included). Returns the threshold for the rest of the scan: only
  /// sums strictly below it are reported from now on (0 ends the scan).
  virtual uint16_t on_block(size_t block, uint32_t mask, const uint16_t* dist) = 0;

 protected:
  ~FastScanSink() = default;
};

struct FastScanKernels {
  SimdLevel level;
  /// out[32*b + i] = sum over sub-quantizers of lut8[sq][code(b*32+i, sq)] for every vector of
  /// `nblocks` blocks (padding vectors included). lut8 is fast_scan_lut_bytes(m) bytes.
  void (*accumulate)(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* lut8,
                     uint16_t* out);
  /// Scans the first n vectors of `blocks` and reports to `sink` every block holding a vector
  /// whose sum is strictly below `threshold` (which the sink lowers as its heap improves).
  void (*scan)(const uint8_t* blocks, size_t n, size_t m, const uint8_t* lut8, uint16_t threshold,
               FastScanSink& sink);
  /// fast_scan_quantize_lut at this level (bit-identical across levels).
  LutQuantization (*quantize_lut)(const float* lut, size_t m, uint8_t* lut8);
  /// quantize_lut of the table a + 2 * b (m rows of 16 floats each), computed row by row on the
  /// fly: a list's precomputed term table plus the query's shared table without materialising
  /// the float sum. Bit-identical to quantize_lut on the summed table (2 * b is exact).
  LutQuantization (*quantize_lut_sum2)(const float* a, const float* b, size_t m, uint8_t* lut8);
};

/// Kernels of detected_simd_level() (so VECSTREAM_SIMD caps them too). Thread-safe.
const FastScanKernels& fast_scan_kernels();
/// Kernels of one level, or nullptr if this CPU cannot run it (tests and benches).
const FastScanKernels* fast_scan_kernels_for(SimdLevel level);

namespace internal {
/// Scale, bias and error bound from the row statistics (shared by every level, so that they
/// agree bit for bit): bias = sum of row minima (in row order, in double), sum_range and
/// max_range over the rows.
LutQuantization lut_quantization(double bias, double sum_range, float max_range, size_t m);
const FastScanKernels& fast_scan_scalar_kernels();
const FastScanKernels& fast_scan_avx2_kernels();
const FastScanKernels& fast_scan_avx512_kernels();
}  // namespace internal

}  // namespace vecstream

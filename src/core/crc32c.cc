// CRC-32C: the portable slicing-by-8 implementation and the runtime choice between it and SSE4.2.
//
// This file is compiled at the baseline ISA. The tables are built at compile time. The CPU is
// probed once (function-local statics, so the first call from any thread initialises them safely)
// and every later call is one indirect call through a plain function pointer.
#include "core/crc32c.h"

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace vecstream {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78u;  // Castagnoli, bit-reversed

using Crc32cTables = std::array<std::array<uint32_t, 256>, 8>;

// tables[0][b] is the CRC of byte b; tables[k][b] is the CRC of byte b followed by k zero bytes,
// which lets the loop below fold eight input bytes with eight independent lookups.
constexpr Crc32cTables make_tables() {
  Crc32cTables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) != 0 ? kPolynomial : 0u);
    t[0][b] = c;
  }
  for (size_t k = 1; k < t.size(); ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  }
  return t;
}

constexpr Crc32cTables kTables = make_tables();

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn chosen_extend() {
  static const ExtendFn fn =
      internal::crc32c_choose_hardware(internal::crc32c_cpu_has_sse42(), std::getenv("VECSTREAM_SIMD"))
          ? &internal::crc32c_extend_sse42
          : &internal::crc32c_extend_portable;
  return fn;
}

}  // namespace

namespace internal {

uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t l = ~crc;
  if constexpr (std::endian::native == std::endian::little) {
    for (; n >= 8; n -= 8, p += 8) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + 4, 4);
      lo ^= l;
      l = kTables[7][lo & 0xffu] ^ kTables[6][(lo >> 8) & 0xffu] ^ kTables[5][(lo >> 16) & 0xffu] ^
          kTables[4][lo >> 24] ^ kTables[3][hi & 0xffu] ^ kTables[2][(hi >> 8) & 0xffu] ^
          kTables[1][(hi >> 16) & 0xffu] ^ kTables[0][hi >> 24];
    }
  }
  for (; n > 0; --n, ++p) l = kTables[0][(l ^ *p) & 0xffu] ^ (l >> 8);
  return ~l;
}

bool crc32c_cpu_has_sse42() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
}

bool crc32c_choose_hardware(bool cpu_has_sse42, const char* simd_env) {
  if (!cpu_has_sse42) return false;
  return simd_env == nullptr || std::string_view(simd_env) != "scalar";
}

}  // namespace internal

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n) {
  return chosen_extend()(crc, data, n);
}

bool crc32c_is_hardware() { return chosen_extend() == &internal::crc32c_extend_sse42; }

}  // namespace vecstream

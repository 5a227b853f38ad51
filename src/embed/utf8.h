// UTF-8 checks for the embedders: every document is validated before any model sees it, so that
// tokenisers can step through code points without re-checking and a bad byte is reported with its
// offset instead of producing a silently different vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vecstream {

inline constexpr size_t kUtf8Valid = static_cast<size_t>(-1);

/// Offset of the first byte that starts an invalid sequence in `text` (truncated, stray
/// continuation byte, overlong form, surrogate, above U+10FFFF), or kUtf8Valid. O(n); ASCII runs
/// are skipped eight bytes at a time.
size_t utf8_error_offset(std::string_view text);

/// Length in bytes of the code point that starts with `lead`, assuming valid UTF-8 (1 for a
/// continuation byte, so that a scan always advances).
constexpr size_t utf8_sequence_length(uint8_t lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

/// Decodes the code point of `len` bytes at `p` (valid UTF-8, len from utf8_sequence_length).
constexpr uint32_t utf8_decode(const char* p, size_t len) {
  const auto b = [p](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(p[i])); };
  switch (len) {
    case 1: return b(0);
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

}  // namespace vecstream

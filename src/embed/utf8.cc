#include "embed/utf8.h"

#include <cstring>

namespace vecstream {

size_t utf8_error_offset(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at once.
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    uint32_t min_cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min_cp = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min_cp = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min_cp = 0x10000;
    } else {
      return i;  // stray continuation byte, overlong 2-byte lead (C0/C1) or F5..FF
    }
    if (i + len > n) return i;  // truncated at the end of the text
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min_cp) return i;                    // overlong form
    if (cp >= 0xD800 && cp <= 0xDFFF) return i;   // UTF-16 surrogate
    if (cp > 0x10FFFF) return i;
    i += len;
  }
  return kUtf8Valid;
}

}  // namespace vecstream

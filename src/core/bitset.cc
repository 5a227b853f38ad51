#include "core/bitset.h"

namespace vecstream {

size_t Bitset::count() const {
  size_t c = 0;
  for (uint64_t w : words_) c += static_cast<size_t>(std::popcount(w));
  return c;
}

}  // namespace vecstream

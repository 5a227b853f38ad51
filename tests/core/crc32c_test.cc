// CRC-32C: both implementations against published vectors (RFC 3720 B.4, the check value), against
// a bit-at-a-time reference written out here, and against each other over awkward lengths and
// alignments. Inputs end exactly where their heap allocation ends, so an over-read of a tail shows up
// under AddressSanitizer; starting offsets 0..15 cover every misalignment of the 8-byte loop.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c.h"

namespace vecstream {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

struct Impl {
  const char* name;
  ExtendFn fn;
};

std::vector<Impl> available_impls() {
  std::vector<Impl> out = {{"dispatched", &crc32c_extend},
                           {"portable", &internal::crc32c_extend_portable}};
  if (internal::crc32c_cpu_has_sse42()) out.push_back({"sse42", &internal::crc32c_extend_sse42});
  return out;
}

uint32_t reference_crc32c(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t l = ~crc;
  for (size_t i = 0; i < n; ++i) {
    l ^= p[i];
    for (int bit = 0; bit < 8; ++bit) l = (l >> 1) ^ ((l & 1u) != 0 ? 0x82f63b78u : 0u);
  }
  return ~l;
}

TEST(Crc32c, PublishedVectors) {
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  const uint8_t iscsi_read[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                  0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (const Impl& impl : available_impls()) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, "123456789", 9), 0xe3069283u);
    EXPECT_EQ(impl.fn(0, "a", 1), 0xc1d04330u);
    EXPECT_EQ(impl.fn(0, "", 0), 0u);
    EXPECT_EQ(impl.fn(0, zeros.data(), 32), 0x8a9136aau);
    EXPECT_EQ(impl.fn(0, ones.data(), 32), 0x62a8ab43u);
    EXPECT_EQ(impl.fn(0, up.data(), 32), 0x46dd794eu);
    EXPECT_EQ(impl.fn(0, down.data(), 32), 0x113fdb5cu);
    EXPECT_EQ(impl.fn(0, iscsi_read, sizeof(iscsi_read)), 0xd9963a56u);
  }
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
}

TEST(Crc32c, EveryImplementationMatchesTheReferenceOverLengthsAndAlignments) {
  std::mt19937 rng(42);
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (size_t n : {511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537, 1000003})
    lengths.push_back(n);
  for (size_t n : lengths) {
    for (size_t offset = 0; offset < 16; offset += (n > 4096 ? 5 : 1)) {
      std::vector<uint8_t> storage(n + offset);  // the input ends where its allocation ends
      for (uint8_t& b : storage) b = static_cast<uint8_t>(rng());
      const uint8_t* p = storage.data() + offset;
      const uint32_t seed = (n % 3 == 0) ? 0u : static_cast<uint32_t>(rng());
      const uint32_t expected = reference_crc32c(seed, p, n);
      for (const Impl& impl : available_impls()) {
        ASSERT_EQ(impl.fn(seed, p, n), expected) << impl.name << " n=" << n << " offset=" << offset;
      }
    }
  }
}

TEST(Crc32c, ExtendChainsAtEverySplitPoint) {
  std::mt19937 rng(7);
  for (size_t n : {0, 1, 7, 8, 9, 31, 33, 100, 257}) {
    std::vector<uint8_t> data(n);
    for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
    const uint32_t whole = crc32c(data.data(), n);
    for (const Impl& impl : available_impls()) {
      for (size_t split = 0; split <= n; ++split) {
        const uint32_t first = impl.fn(0, data.data(), split);
        ASSERT_EQ(impl.fn(first, data.data() + split, n - split), whole)
            << impl.name << " n=" << n << " split=" << split;
      }
    }
  }
  const std::string hello = "hello ", world = "world";
  EXPECT_EQ(crc32c_extend(crc32c(hello.data(), hello.size()), world.data(), world.size()),
            crc32c("hello world", 11));
}

TEST(Crc32c, MaskIsReversibleAndChangesTheValue) {
  static_assert(crc32c_unmask(crc32c_mask(0x12345678u)) == 0x12345678u);
  std::mt19937 rng(3);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t crc = static_cast<uint32_t>(rng());
    ASSERT_EQ(crc32c_unmask(crc32c_mask(crc)), crc);
    ASSERT_NE(crc32c_mask(crc), crc);
    ASSERT_NE(crc32c_mask(crc32c_mask(crc)), crc);
  }
  const uint32_t check = crc32c("foo", 3);
  EXPECT_NE(crc32c_mask(check), check);
  EXPECT_EQ(crc32c_unmask(crc32c_mask(check)), check);
}

TEST(Crc32c, DispatchRuleHonoursVecstreamSimd) {
  EXPECT_FALSE(internal::crc32c_choose_hardware(false, nullptr));
  EXPECT_FALSE(internal::crc32c_choose_hardware(false, "avx2"));
  EXPECT_FALSE(internal::crc32c_choose_hardware(true, "scalar"));
  EXPECT_TRUE(internal::crc32c_choose_hardware(true, nullptr));
  EXPECT_TRUE(internal::crc32c_choose_hardware(true, "avx2"));
  EXPECT_TRUE(internal::crc32c_choose_hardware(true, "avx512"));
  EXPECT_TRUE(internal::crc32c_choose_hardware(true, ""));
  // The process-wide choice follows the same rule for this process's CPU and environment.
  EXPECT_EQ(crc32c_is_hardware(), internal::crc32c_choose_hardware(internal::crc32c_cpu_has_sse42(),
                                                                   std::getenv("VECSTREAM_SIMD")));
}

}  // namespace
}  // namespace vecstream

// UTF-8 validation: every class of malformed sequence is caught at the right offset, on both the
// byte-by-byte and the eight-bytes-at-a-time path.
#include "embed/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace vecstream {
namespace {

TEST(Utf8Test, ValidText) {
  EXPECT_EQ(utf8_error_offset(""), kUtf8Valid);
  EXPECT_EQ(utf8_error_offset("plain ascii, long enough for the fast path"), kUtf8Valid);
  EXPECT_EQ(utf8_error_offset("\xc2\x80"), kUtf8Valid);              // U+0080, smallest 2-byte
  EXPECT_EQ(utf8_error_offset("caf\xc3\xa9"), kUtf8Valid);           // é
  EXPECT_EQ(utf8_error_offset("\xe2\x82\xac 5"), kUtf8Valid);        // €
  EXPECT_EQ(utf8_error_offset("\xef\xbf\xbf"), kUtf8Valid);          // U+FFFF
  EXPECT_EQ(utf8_error_offset("\xf0\x9d\x84\x9e"), kUtf8Valid);      // 𝄞 U+1D11E
  EXPECT_EQ(utf8_error_offset("\xf4\x8f\xbf\xbf"), kUtf8Valid);      // U+10FFFF
  EXPECT_EQ(utf8_error_offset(std::string("a\0b", 3)), kUtf8Valid);  // NUL is a character
}

TEST(Utf8Test, MalformedSequencesAndTheirOffsets) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const Case cases[] = {
      {"\x80", 0},                  // stray continuation byte
      {"ab\xbf", 2},
      {"\xc0\x80", 0},              // overlong NUL
      {"\xc1\xbf", 0},              // overlong
      {"\xe0\x80\x80", 0},          // overlong 3-byte
      {"\xf0\x80\x80\x80", 0},      // overlong 4-byte
      {"\xed\xa0\x80", 0},          // surrogate U+D800
      {"\xed\xbf\xbf", 0},          // surrogate U+DFFF
      {"\xf4\x90\x80\x80", 0},      // U+110000
      {"\xf5\x80\x80\x80", 0},      // lead byte beyond F4
      {"\xff", 0},
      {"x\xe2\x82", 1},             // truncated at the end
      {"x\xe2\x82y", 1},            // truncated in the middle
      {"\xc3", 0},
      {"0123456789abcdef\xc3(", 16},  // after the fast path
      {"0123456\xe2\x82\xac" "89abcdef\xf0\x9f\x98", 18},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(utf8_error_offset(c.text), c.offset) << "case with " << c.text.size() << " bytes";
  }
}

TEST(Utf8Test, DecodeHelpers) {
  EXPECT_EQ(utf8_sequence_length(0x41), 1u);
  EXPECT_EQ(utf8_sequence_length(0x80), 1u);  // continuation bytes still advance
  EXPECT_EQ(utf8_sequence_length(0xc3), 2u);
  EXPECT_EQ(utf8_sequence_length(0xe2), 3u);
  EXPECT_EQ(utf8_sequence_length(0xf0), 4u);
  EXPECT_EQ(utf8_decode("\xc3\xa9", 2), 0xe9u);
  EXPECT_EQ(utf8_decode("\xe2\x82\xac", 3), 0x20acu);
  EXPECT_EQ(utf8_decode("\xf0\x9d\x84\x9e", 4), 0x1d11eu);
}

}  // namespace
}  // namespace vecstream

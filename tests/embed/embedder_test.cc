// The Embedder contract shared by every implementation: document checks with precise messages,
// the all-or-nothing and per-document call forms, output size checks, and no exception escaping.
#include "embed/embedder.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "embed/hashing_embedder.h"

namespace vecstream {
namespace {

// A test double with a visible protocol: writes (index + 1) into every component, rejects
// documents that contain "reject", fails the batch on "fail", throws on "throw".
class ScriptedEmbedder final : public Embedder {
 public:
  size_t dimension() const override { return 3; }
  Metric metric() const override { return Metric::kL2; }
  bool normalized() const override { return false; }
  std::string name() const override { return "scripted"; }
  size_t max_document_bytes() const override { return 32; }
  int calls = 0;

 protected:
  Status embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                       std::span<Status> doc_status) override {
    ++calls;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!doc_status[i].is_ok()) continue;
      if (texts[i].find("throw") != std::string_view::npos) throw std::runtime_error("boom");
      if (texts[i].find("fail") != std::string_view::npos) return Status::io_error("model went away");
      if (texts[i].find("reject") != std::string_view::npos) {
        doc_status[i] = Status::invalid_argument("no word known to the model");
        continue;
      }
      for (size_t j = 0; j < 3; ++j) out[i * 3 + j] = static_cast<float>(i + 1);
    }
    return Status::ok();
  }
};

TEST(EmbedderTest, DocumentChecks) {
  EXPECT_TRUE(check_document("hello", 10).is_ok());
  EXPECT_TRUE(check_document("  x  ", 10).is_ok());
  EXPECT_TRUE(check_document("\xc3\xa9t\xc3\xa9", 10).is_ok());  // "été"
  struct Case {
    std::string text;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty document"},
      {" \t\r\n ", "document is only whitespace"},
      {"abc\xff", "document is not valid UTF-8 (byte 3)"},
      {"0123456789x", "document is 11 bytes; the limit is 10"},
  };
  for (const Case& c : cases) {
    Status s = check_document(c.text, 10);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(EmbedderTest, AllOrNothingNamesTheFirstBadDocument) {
  ScriptedEmbedder e;
  std::vector<float> out(4 * 3);
  const std::vector<std::string_view> texts = {"good", "also good", "bad \xff utf8", ""};
  Status s = e.embed(texts, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "document 2: document is not valid UTF-8 (byte 4)");
  EXPECT_EQ(e.calls, 0);  // rejected before any work

  const std::vector<std::string_view> rejected = {"good", "please reject me"};
  out.assign(2 * 3, -1);
  s = e.embed(rejected, out);
  EXPECT_EQ(s.message(), "document 1: no word known to the model");

  const std::vector<std::string_view> failing = {"good", "fail"};
  s = e.embed(failing, out);
  EXPECT_EQ(s.to_string(), "IO_ERROR: model went away");

  const std::vector<std::string_view> throwing = {"throw"};
  std::vector<float> one(3);
  s = e.embed(throwing, one);  // caught, never escapes
  EXPECT_EQ(s.to_string(), "INTERNAL: scripted: unexpected error: boom");

  // Output size must match.
  s = e.embed(failing, std::span<float>(out.data(), 5));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("2 documents of dimension 3 need 6"), std::string::npos);
  // No documents: nothing to do.
  EXPECT_TRUE(e.embed(std::span<const std::string_view>(), std::span<float>()).is_ok());
}

TEST(EmbedderTest, PerDocumentFormEmbedsTheGoodOnes) {
  ScriptedEmbedder e;
  const std::vector<std::string_view> texts = {"good", "", "please reject", "fine", "\xc0\x80",
                                               std::string_view("0123456789012345678901234567890123")};
  std::vector<float> out(texts.size() * 3, -1);
  std::vector<Status> st(texts.size());
  Status s = e.embed(texts, out, st);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "4 of 6 documents rejected; first: document 1: empty document");
  EXPECT_TRUE(st[0].is_ok());
  EXPECT_EQ(st[1].message(), "empty document");
  EXPECT_EQ(st[2].message(), "no word known to the model");
  EXPECT_TRUE(st[3].is_ok());
  EXPECT_EQ(st[4].message(), "document is not valid UTF-8 (byte 0)");
  EXPECT_EQ(st[5].message(), "document is 34 bytes; the limit is 32");
  const std::vector<float> expected = {1, 1, 1, 0, 0, 0, 0, 0, 0, 4, 4, 4, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(out, expected);  // good rows written, rejected rows zero

  // All good: OK and every status OK.
  const std::vector<std::string_view> good = {"a", "b"};
  std::vector<Status> st2(2, Status::internal("stale"));
  std::vector<float> out2(6);
  EXPECT_TRUE(e.embed(good, out2, st2).is_ok());
  EXPECT_TRUE(st2[0].is_ok() && st2[1].is_ok());

  // A batch failure is the call's result and every document not rejected on its own shares it.
  const std::vector<std::string_view> failing = {"good", "", "fail"};
  std::vector<Status> st3(3);
  std::vector<float> out3(9, -1);
  s = e.embed(failing, out3, st3);
  EXPECT_EQ(s.to_string(), "IO_ERROR: model went away");
  EXPECT_EQ(st3[0].to_string(), "IO_ERROR: model went away");
  EXPECT_EQ(st3[1].message(), "empty document");
  EXPECT_EQ(st3[2].to_string(), "IO_ERROR: model went away");
  EXPECT_EQ(out3, std::vector<float>(9, 0));

  // Every document bad: the implementation is not called.
  const int calls = e.calls;
  const std::vector<std::string_view> bad = {"", " "};
  std::vector<Status> st4(2);
  std::vector<float> out4(6);
  EXPECT_FALSE(e.embed(bad, out4, st4).is_ok());
  EXPECT_EQ(e.calls, calls);

  // Mismatched status span.
  std::vector<Status> wrong(1);
  EXPECT_EQ(e.embed(good, out2, wrong).code(), StatusCode::kInvalidArgument);
}

TEST(EmbedderTest, PerDocumentResultsMatchSoloEmbedding) {
  auto e = HashingEmbedder::create({});
  ASSERT_TRUE(e.is_ok());
  const std::vector<std::string_view> texts = {"the first document", "", "the third one", "\xed\xa0\x80"};
  std::vector<float> out(texts.size() * 256);
  std::vector<Status> st(texts.size());
  EXPECT_FALSE((*e)->embed(texts, out, st).is_ok());
  auto first = (*e)->embed_one(texts[0]);
  auto third = (*e)->embed_one(texts[2]);
  ASSERT_TRUE(first.is_ok() && third.is_ok());
  EXPECT_TRUE(std::equal(first->begin(), first->end(), out.begin()));
  EXPECT_TRUE(std::equal(third->begin(), third->end(), out.begin() + 2 * 256));
  auto bad = (*e)->embed_one("");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message(), "document 0: empty document");
  std::string huge(kDefaultMaxDocumentBytes + 1, 'a');
  bad = (*e)->embed_one(huge);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("the limit is 1048576"), std::string::npos);
}

}  // namespace
}  // namespace vecstream

// FastTextEmbedder against a real model trained here, at test time, with fastText's own training
// API on WordNet glosses (skipgram, 32 dimensions, one thread: a few seconds), and against every
// way a model file can be missing or damaged.
#include "embed/fasttext_embedder.h"

#include <fasttext/fasttext.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "embed/wordnet.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

using testing::dot;

// Training text: lower-cased, punctuation turned into spaces (fastText splits on whitespace only).
std::string clean(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(std::isalnum(u) ? static_cast<char>(std::tolower(u)) : ' ');
  }
  return out;
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const char* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(n));
}

class FastTextEmbedderTest : public ::testing::Test {
 protected:
  // One corpus and two models for the whole suite: a skipgram model with character n-grams, and
  // a words-only one (no n-grams: unknown words have no vector).
  static void SetUpTestSuite() {
    synsets_ = new std::vector<testing::Synset>(testing::load_noun_synsets());
    if (synsets_->empty()) return;
    triples_ = new std::vector<testing::GlossTriple>(testing::gloss_triples(*synsets_, 1500));
    dir_ = new testing::TempDir();
    const std::string corpus = *dir_ / "glosses.txt";
    {
      std::ofstream out(corpus);
      for (const auto& t : *triples_) {
        out << clean(t.gloss) << '\n' << clean(t.related) << '\n' << clean(t.unrelated) << '\n';
      }
    }
    fasttext::Args args;
    args.input = corpus;
    args.model = fasttext::model_name::sg;
    // Small and quick (about two seconds), yet enough for related glosses to come out closer:
    // a high learning rate, a short window, few negatives, n-grams of 3 and 4 characters.
    args.dim = 32;
    args.epoch = 8;
    args.lr = 0.3;
    args.ws = 3;
    args.neg = 2;
    args.thread = 1;
    args.minCount = 2;
    args.bucket = 20000;
    args.minn = 3;
    args.maxn = 4;
    args.verbose = 0;
    {
      fasttext::FastText ft;
      ft.train(args);
      ft.saveModel(*dir_ / "model.bin");
    }
    args.minn = 0;
    args.maxn = 0;
    args.epoch = 1;
    {
      fasttext::FastText ft;
      ft.train(args);
      ft.saveModel(*dir_ / "words.bin");
    }
    // Loading takes a while (fastText builds a 10M-entry negative-sampling table): load the
    // default embedder once for the tests that need nothing else.
    FastTextEmbedder::Options o;
    o.model_path = model_path();
    o.lowercase = true;
    auto e = FastTextEmbedder::load(o);
    if (e.is_ok()) shared_ = std::move(*e).release();
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
    delete dir_;
    delete triples_;
    delete synsets_;
    dir_ = nullptr;
    triples_ = nullptr;
    synsets_ = nullptr;
  }
  void SetUp() override {
    if (synsets_->empty()) GTEST_FAIL() << "wordnet-base not installed (scripts/install-deps.sh; " << testing::kWordNetNouns << ")";
  }

  static std::string model_path() { return *dir_ / "model.bin"; }

  static std::unique_ptr<FastTextEmbedder> load(FastTextEmbedder::Options o) {
    auto e = FastTextEmbedder::load(o);
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    return e.is_ok() ? std::move(*e) : nullptr;
  }
  /// The model with lowercase = true, loaded once.
  static FastTextEmbedder* shared() {
    EXPECT_NE(shared_, nullptr) << "the trained model did not load";
    return shared_;
  }

  static Status load_status(const std::string& path) {
    FastTextEmbedder::Options o;
    o.model_path = path;
    auto e = FastTextEmbedder::load(o);
    return e.is_ok() ? Status::ok() : e.status();
  }

  static std::vector<testing::Synset>* synsets_;
  static std::vector<testing::GlossTriple>* triples_;
  static testing::TempDir* dir_;
  static FastTextEmbedder* shared_;
};

std::vector<testing::Synset>* FastTextEmbedderTest::synsets_ = nullptr;
std::vector<testing::GlossTriple>* FastTextEmbedderTest::triples_ = nullptr;
testing::TempDir* FastTextEmbedderTest::dir_ = nullptr;
FastTextEmbedder* FastTextEmbedderTest::shared_ = nullptr;

TEST_F(FastTextEmbedderTest, LoadsAndEmbedsUnitVectors) {
  FastTextEmbedder* e = shared();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dimension(), 32u);
  EXPECT_EQ(e->metric(), Metric::kCosine);
  EXPECT_TRUE(e->normalized());
  EXPECT_EQ(e->name(), "fasttext(" + model_path() + ")");
  const auto texts = testing::triple_texts(*triples_);
  std::vector<float> out(texts.size() * 32);
  ASSERT_TRUE(e->embed(texts, out).is_ok());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_NEAR(dot(out.data() + i * 32, out.data() + i * 32, 32), 1.0f, 1e-4f) << texts[i];
  }
  // Same text, same vector; a line break reads as a space; case folds with lowercase = true.
  EXPECT_EQ(*e->embed_one("a small domestic animal"), *e->embed_one("a small domestic animal"));
  EXPECT_EQ(*e->embed_one("a small\ndomestic\r\nanimal"), *e->embed_one("a small domestic animal"));
  EXPECT_EQ(*e->embed_one("A Small DOMESTIC animal"), *e->embed_one("a small domestic animal"));
  // Document checks apply as for every embedder.
  auto bad = e->embed_one("caf\xc3");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message(), "document 0: document is not valid UTF-8 (byte 3)");
}

TEST_F(FastTextEmbedderTest, RelatedGlossesAreCloserThanUnrelated) {
  FastTextEmbedder* e = shared();
  ASSERT_NE(e, nullptr);
  const auto texts = testing::triple_texts(*triples_);
  std::vector<float> out(texts.size() * 32);
  ASSERT_TRUE(e->embed(texts, out).is_ok());
  const auto r = testing::score_triples(out, 32);
  std::printf("fasttext: %zu triples, related %.3f, unrelated %.3f, related closer in %.1f%%\n",
              r.pairs, r.related_mean, r.unrelated_mean, 100 * r.related_wins);
  // About 78% with this model (the lexical hashing embedder: about 70%). fastText trains on one
  // thread from a fixed seed: the numbers repeat from run to run.
  EXPECT_GT(r.related_mean, r.unrelated_mean + 0.05);
  EXPECT_GT(r.related_wins, 0.70);
}

TEST_F(FastTextEmbedderTest, WithoutNormalisationTheDirectionIsTheSame) {
  FastTextEmbedder::Options o;
  o.model_path = model_path();
  o.normalize = false;
  auto raw = load(o);
  FastTextEmbedder* unit = shared();
  ASSERT_NE(raw, nullptr);
  ASSERT_NE(unit, nullptr);
  EXPECT_FALSE(raw->normalized());
  EXPECT_EQ(raw->metric(), Metric::kInnerProduct);
  auto a = raw->embed_one("a large body of water");
  auto b = unit->embed_one("a large body of water");
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  const float norm = std::sqrt(dot(a->data(), a->data(), 32));
  EXPECT_LT(norm, 0.99f);  // fastText's mean of unit word vectors is shorter than 1
  for (size_t j = 0; j < 32; ++j) EXPECT_NEAR((*a)[j] / norm, (*b)[j], 1e-5f);
}

TEST_F(FastTextEmbedderTest, DocumentWithNoKnownWordIsRejectedAlone) {
  FastTextEmbedder::Options o;
  o.model_path = *dir_ / "words.bin";  // no character n-grams: unknown words have no vector
  auto e = load(o);
  ASSERT_NE(e, nullptr);
  const std::vector<std::string_view> texts = {"a large body of water", "qqzzxv wwkkpq", "the act of"};
  std::vector<float> out(3 * 32);
  std::vector<Status> st(3);
  Status s = e->embed(texts, out, st);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(st[0].is_ok());
  EXPECT_EQ(st[1].message(), "no word of the document is known to the model");
  EXPECT_TRUE(st[2].is_ok());
  EXPECT_EQ(std::vector<float>(out.begin() + 32, out.begin() + 64), std::vector<float>(32, 0.0f));
  EXPECT_NEAR(dot(out.data(), out.data(), 32), 1.0f, 1e-4f);
  // All or nothing: the same document fails the call, naming it.
  s = e->embed(texts, out);
  EXPECT_EQ(s.message(), "document 1: no word of the document is known to the model");
}

TEST_F(FastTextEmbedderTest, MissingOrDamagedModelFilesGiveClearErrors) {
  const std::string dir = dir_->path();
  Status s = load_status(dir + "/no-such-model.bin");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("no such file"), std::string::npos) << s.to_string();

  s = load_status(dir);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("not a regular file"), std::string::npos) << s.to_string();

  FastTextEmbedder::Options none;
  auto e = FastTextEmbedder::load(none);
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);

  write_bytes(dir + "/empty.bin", "", 0);
  s = load_status(dir + "/empty.bin");
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();

  const std::string text = "this is a text file, not a model\n";
  write_bytes(dir + "/text.bin", text.data(), text.size());
  s = load_status(dir + "/text.bin");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("not a fastText model"), std::string::npos) << s.to_string();

  const std::vector<char> model = read_bytes(model_path());
  ASSERT_GT(model.size(), 4096u);
  // Cut in the dictionary (fastText alone would loop forever there), and in the matrices.
  for (size_t cut : {size_t{100}, size_t{2000}, model.size() / 2, model.size() - 1}) {
    const std::string path = dir + "/cut-" + std::to_string(cut) + ".bin";
    write_bytes(path, model.data(), cut);
    s = load_status(path);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "cut at " << cut;
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.to_string();
  }
  // Trailing bytes after the last matrix.
  std::vector<char> longer = model;
  longer.insert(longer.end(), 16, 'x');
  write_bytes(dir + "/longer.bin", longer.data(), longer.size());
  s = load_status(dir + "/longer.bin");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("unexpected bytes"), std::string::npos) << s.to_string();
  // A newer format version than this fastText reads.
  std::vector<char> newer = model;
  newer[4] = 99;
  write_bytes(dir + "/newer.bin", newer.data(), newer.size());
  s = load_status(dir + "/newer.bin");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("format version"), std::string::npos) << s.to_string();
  // A dictionary that claims far more words than the file holds (magic 4 + version 4 + the 56
  // bytes of arguments put its word count at offset 64).
  std::vector<char> bloated = model;
  const int32_t many = 0x7fffffff;
  std::memcpy(bloated.data() + 64, &many, sizeof(many));
  write_bytes(dir + "/bloated.bin", bloated.data(), bloated.size());
  s = load_status(dir + "/bloated.bin");
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  // The intact model still loads.
  EXPECT_TRUE(load_status(model_path()).is_ok());
}

TEST_F(FastTextEmbedderTest, ConcurrentCallersGetTheSameVectors) {
  FastTextEmbedder* e = shared();
  ASSERT_NE(e, nullptr);
  const auto texts = testing::triple_texts(*triples_);
  const std::vector<std::string_view> some(texts.begin(), texts.begin() + 600);
  std::vector<float> expected(some.size() * 32);
  ASSERT_TRUE(e->embed(some, expected).is_ok());
  std::vector<std::vector<float>> got(4, std::vector<float>(expected.size()));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        if (!e->embed(some, got[t]).is_ok()) got[t].clear();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

}  // namespace
}  // namespace vecstream

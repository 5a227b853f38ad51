// HashingEmbedder: options, determinism (within a run, across instances and against fixed values
// so that a change of hashing or projection cannot pass unnoticed), normalisation, tokenisation,
// and that on real text (WordNet glosses) related texts are closer than unrelated ones.
#include "embed/hashing_embedder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "embed/wordnet.h"

namespace vecstream {
namespace {

using testing::dot;

std::unique_ptr<HashingEmbedder> make(HashingEmbedder::Options o = {}) {
  auto e = HashingEmbedder::create(o);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  return e.is_ok() ? std::move(*e) : nullptr;
}

std::vector<float> embed_all(Embedder& e, const std::vector<std::string_view>& texts) {
  std::vector<float> out(texts.size() * e.dimension());
  Status s = e.embed(texts, out);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return out;
}

float cosine(Embedder& e, std::string_view a, std::string_view b) {
  auto va = e.embed_one(a);
  auto vb = e.embed_one(b);
  EXPECT_TRUE(va.is_ok() && vb.is_ok());
  if (!va.is_ok() || !vb.is_ok()) return 0;
  return dot(va->data(), vb->data(), va->size());
}

TEST(HashingEmbedderTest, OptionsAreValidated) {
  auto rejects = [](HashingEmbedder::Options o, const char* what) {
    auto e = HashingEmbedder::create(o);
    ASSERT_FALSE(e.is_ok()) << what;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << what;
    EXPECT_NE(e.status().message().find("hashing embedder"), std::string::npos);
  };
  HashingEmbedder::Options o;
  o.dim = 0;
  rejects(o, "dim 0");
  o.dim = 1;
  rejects(o, "dim 1");
  o.dim = 16385;
  rejects(o, "dim too large");
  o = {};
  o.buckets = o.dim - 1;
  rejects(o, "fewer buckets than dimensions");
  o = {};
  o.buckets = (size_t{1} << 31) + 1;
  rejects(o, "too many buckets");
  o = {};
  o.min_ngram = 0;
  rejects(o, "min_ngram 0");
  o = {};
  o.min_ngram = 4, o.max_ngram = 3;
  rejects(o, "min > max");
  o = {};
  o.max_ngram = 9;
  rejects(o, "max_ngram 9");
  o = {};
  o.word_weight = -1;
  rejects(o, "negative weight");
  o = {};
  o.char_weight = std::numeric_limits<float>::quiet_NaN();
  rejects(o, "NaN weight");
  o = {};
  o.word_weight = 0, o.char_weight = 0;
  rejects(o, "only bigrams");
  o = {};
  o.max_document_bytes = 0;
  rejects(o, "no document size");

  for (size_t dim : {size_t{2}, size_t{3}, size_t{63}, size_t{65}, size_t{16384}}) {
    o = {};
    o.dim = dim;
    auto e = make(o);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dimension(), dim);
    auto v = e->embed_one("odd dimensions work too");
    ASSERT_TRUE(v.is_ok());
    EXPECT_EQ(v->size(), dim);
    EXPECT_NEAR(dot(v->data(), v->data(), dim), 1.0f, 1e-5f);
  }
  auto e = make();
  EXPECT_EQ(e->metric(), Metric::kCosine);
  EXPECT_TRUE(e->normalized());
  EXPECT_EQ(e->name(), "hashing(dim=256,seed=" + std::to_string(HashingEmbedder::Options{}.seed) + ")");
}

TEST(HashingEmbedderTest, DeterministicAcrossCallsInstancesAndRuns) {
  const std::vector<std::string_view> texts = {
      "a small domesticated carnivorous mammal with soft fur",
      "the act of destroying something",
      "a small domesticated carnivorous mammal with soft fur",
  };
  auto a = make();
  auto b = make();
  const auto va = embed_all(*a, texts);
  const auto vb = embed_all(*b, texts);
  EXPECT_EQ(va, vb);  // bitwise: same options, same floats
  const size_t d = a->dimension();
  EXPECT_TRUE(std::equal(va.begin(), va.begin() + d, va.begin() + 2 * d));
  // One at a time = in a batch.
  for (size_t i = 0; i < texts.size(); ++i) {
    auto v = a->embed_one(texts[i]);
    ASSERT_TRUE(v.is_ok());
    EXPECT_TRUE(std::equal(v->begin(), v->end(), va.begin() + i * d));
  }
  // Fixed values: the definition of the embedding (xxHash64, splitmix64 projection, weights) must
  // not drift between runs, machines or refactorings; re-derive them only on purpose.
  const float golden[8] = {-0.045301337f, 0.135460436f, 0.057844758f, -0.085826099f,
                           -0.003598618f, -0.030293297f, 0.033586700f, -0.121841952f};
  for (size_t j = 0; j < 8; ++j) EXPECT_NEAR(va[j], golden[j], 1e-6f) << "component " << j;

  // Another seed: another, unrelated projection.
  HashingEmbedder::Options o;
  o.seed = 7;
  auto c = make(o);
  const auto vc = embed_all(*c, texts);
  EXPECT_NE(vc, va);
  EXPECT_LT(std::abs(dot(va.data(), vc.data(), d)), 0.3f);
}

TEST(HashingEmbedderTest, VectorsAreUnitLength) {
  const auto synsets = testing::load_noun_synsets(2000);
  if (synsets.empty()) GTEST_FAIL() << "wordnet-base not installed (scripts/install-deps.sh; " << testing::kWordNetNouns << ")";
  std::vector<std::string_view> texts;
  for (const auto& s : synsets) texts.push_back(s.gloss);
  auto e = make();
  const auto v = embed_all(*e, texts);
  const size_t d = e->dimension();
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_NEAR(dot(v.data() + i * d, v.data() + i * d, d), 1.0f, 1e-5f) << texts[i];
  }
}

TEST(HashingEmbedderTest, CaseAndPunctuationAreFolded) {
  auto e = make();
  EXPECT_EQ(*e->embed_one("The QUICK, brown fox -- jumps!"), *e->embed_one("the quick brown fox jumps"));
  EXPECT_EQ(*e->embed_one("CAFÉ ÉCLAIR"), *e->embed_one("café éclair"));  // Latin-1 capitals fold
  EXPECT_EQ(*e->embed_one("tea\u2014coffee\u3000milk"), *e->embed_one("tea coffee milk"));
  // Other scripts pass through as tokens and still compare sensibly.
  EXPECT_GT(cosine(*e, "Москва столица России", "столица России Москва"), 0.9f);
  EXPECT_GT(cosine(*e, "東京は日本の首都です", "東京は日本の首都"),
            cosine(*e, "東京は日本の首都です", "a red apple"));
  // Punctuation-only documents are kept, not rejected: their punctuation becomes the tokens.
  auto q = e->embed_one("?!");
  ASSERT_TRUE(q.is_ok()) << q.status().to_string();
  EXPECT_NEAR(dot(q->data(), q->data(), q->size()), 1.0f, 1e-5f);
  EXPECT_NE(*q, *e->embed_one("..."));
}

TEST(HashingEmbedderTest, WordPiecesLinkInflectedForms) {
  auto e = make();
  const char* s = "the children were playing football in the garden";
  // Character n-grams: "child"/"children", "play"/"playing", "garden"/"gardens" share pieces.
  EXPECT_GT(cosine(*e, s, "a child plays football in gardens"),
            cosine(*e, s, "stock markets fell sharply after the announcement"));
  // Without n-grams the inflected forms share only "football" and "in".
  HashingEmbedder::Options words_only;
  words_only.char_weight = 0;
  auto w = make(words_only);
  EXPECT_GT(cosine(*e, s, "a child plays football in gardens"),
            cosine(*w, s, "a child plays football in gardens"));
  // Word order matters a little (bigrams), not much.
  const float swapped = cosine(*e, "dog bites man", "man bites dog");
  EXPECT_LT(swapped, 0.999f);
  EXPECT_GT(swapped, 0.6f);
}

TEST(HashingEmbedderTest, RelatedGlossesAreCloserThanUnrelated) {
  const auto synsets = testing::load_noun_synsets();
  if (synsets.empty()) GTEST_FAIL() << "wordnet-base not installed (scripts/install-deps.sh; " << testing::kWordNetNouns << ")";
  const auto triples = testing::gloss_triples(synsets, 1500);
  ASSERT_GE(triples.size(), 1000u);
  auto e = make();
  const auto v = embed_all(*e, testing::triple_texts(triples));
  const auto r = testing::score_triples(v, e->dimension());
  std::printf("hashing: %zu triples, related %.3f, unrelated %.3f, related closer in %.1f%%\n",
              r.pairs, r.related_mean, r.unrelated_mean, 100 * r.related_wins);
  // A lexical embedder sees only shared words and word pieces: about 70% here (fastText trained
  // on the glosses does better). Deterministic data, deterministic numbers: no flakiness.
  EXPECT_GT(r.related_mean, r.unrelated_mean + 0.06);
  EXPECT_GT(r.related_wins, 0.65);
}

TEST(HashingEmbedderTest, ParaphrasedGlossFindsItsOriginal) {
  const auto synsets = testing::load_noun_synsets(3000);
  if (synsets.empty()) GTEST_FAIL() << "wordnet-base not installed (scripts/install-deps.sh; " << testing::kWordNetNouns << ")";
  std::vector<std::string_view> corpus;
  for (const auto& s : synsets) corpus.push_back(s.gloss);
  auto e = make();
  const size_t d = e->dimension();
  const auto base = embed_all(*e, corpus);
  // Queries: every 10th gloss, upper-cased first word, last word dropped, punctuation added.
  std::vector<std::string> queries;
  std::vector<size_t> truth;
  for (size_t i = 0; i < corpus.size(); i += 10) {
    std::string q(corpus[i]);
    const size_t last_space = q.rfind(' ');
    if (last_space == std::string::npos || last_space < 12) continue;
    q.resize(last_space);
    for (size_t k = 0; k < q.size() && q[k] != ' '; ++k) q[k] = static_cast<char>(std::toupper(q[k]));
    q += "!";
    queries.push_back(std::move(q));
    truth.push_back(i);
  }
  std::vector<std::string_view> qv(queries.begin(), queries.end());
  const auto qe = embed_all(*e, qv);
  size_t found = 0;
  for (size_t q = 0; q < queries.size(); ++q) {
    size_t best = 0;
    float best_score = -2;
    for (size_t i = 0; i < corpus.size(); ++i) {
      const float s = dot(qe.data() + q * d, base.data() + i * d, d);
      if (s > best_score) best_score = s, best = i;
    }
    found += (corpus[best] == corpus[truth[q]]) ? 1 : 0;  // some glosses occur twice
  }
  const double rate = static_cast<double>(found) / static_cast<double>(queries.size());
  std::printf("hashing: %zu of %zu paraphrased glosses find their original\n", found, queries.size());
  EXPECT_GE(rate, 0.95);
}

TEST(HashingEmbedderTest, LongAndUnusualDocuments) {
  auto e = make();
  // A token far longer than any word (no n-grams), and a document near the size limit.
  std::string blob(100000, 'x');
  auto v = e->embed_one(blob);
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_NEAR(dot(v->data(), v->data(), v->size()), 1.0f, 1e-5f);
  std::mt19937 rng(3);
  std::string big;
  while (big.size() + 16 < kDefaultMaxDocumentBytes / 4) big += "word" + std::to_string(rng() % 5000) + ' ';
  v = e->embed_one(big);
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_NEAR(dot(v->data(), v->data(), v->size()), 1.0f, 1e-5f);
  // Control characters and NUL bytes are valid UTF-8: they separate tokens.
  const std::string with_nul("alpha\0beta\x01gamma", 17);
  EXPECT_EQ(*e->embed_one(with_nul), *e->embed_one("alpha beta gamma"));
}

TEST(HashingEmbedderTest, ConcurrentCallersGetTheSameVectors) {
  const auto synsets = testing::load_noun_synsets(400);
  if (synsets.empty()) GTEST_FAIL() << "wordnet-base not installed (scripts/install-deps.sh; " << testing::kWordNetNouns << ")";
  std::vector<std::string_view> texts;
  for (const auto& s : synsets) texts.push_back(s.gloss);
  auto e = make();
  const auto expected = embed_all(*e, texts);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      got[t].resize(expected.size());
      for (int round = 0; round < 2; ++round) {
        if (!e->embed(texts, got[t]).is_ok()) got[t].clear();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

}  // namespace
}  // namespace vecstream

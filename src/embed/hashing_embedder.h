// HashingEmbedder: the built-in embedder, needing no model file. Lexical, not semantic: texts that
// share words, word pairs and word pieces get close vectors; synonyms with no letters in common do
// not. It is the embedded default that makes text ingestion work out of the box, and a baseline.
//
// Pipeline, per document:
//   1. Tokens: runs of letters, digits and non-ASCII characters; ASCII letters and Latin-1
//      capitals are folded to lower case, other UTF-8 passes through unchanged. ASCII punctuation,
//      Latin-1 symbols, U+2000..U+206F (general punctuation) and U+3000..U+3002 separate tokens.
//      A document with no token at all (only punctuation) keeps its punctuation as tokens.
//   2. Features: every token (weight word_weight), every pair of adjacent tokens (bigram_weight),
//      and the character n-grams of "<token>" for n in [min_ngram, max_ngram] code points; a
//      token's n-grams share char_weight (each gets char_weight / sqrt(count)), so long words do
//      not drown short ones. Tokens above 64 code points contribute no n-grams.
//   3. Feature hashing: xxHash64 of the feature's bytes picks one of `buckets` slots and a sign;
//      the signed weights of equal slots add up (a sparse vector).
//   4. Signed random projection to `dim`: slot b is multiplied by a row of +-1 drawn from
//      splitmix64(seed, b), which keeps inner products of the sparse vectors on average
//      (Johnson-Lindenstrauss) without storing a buckets x dim matrix.
//   5. L2 normalisation.
// The result depends only on the text and the options: integer hashing, a fixed order of
// floating-point sums (slots sorted), no machine-dependent state. Same inputs, same floats,
// across runs and machines.
//
// Cost: O(features x dim) per document, typically ~300 features for a 15-word sentence. The
// scratch buffers (normalised text, token offsets, features) are allocated once per call and
// reused for every document of the batch; nothing is allocated per token.
//
// Thread-safety: immutable after create(); embed() from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "embed/embedder.h"

namespace vecstream {

class HashingEmbedder final : public Embedder {
 public:
  struct Options {
    /// Output dimension, in [2, 16384].
    size_t dim = 256;
    /// Seed of the random projection; different seeds give unrelated vector spaces.
    uint64_t seed = 0x76656373;  // "vecs"
    /// Size of the feature-hashing space, in [dim, 2^31].
    size_t buckets = size_t{1} << 20;
    /// Character n-gram lengths, in code points of "<token>": 1 <= min_ngram <= max_ngram <= 8.
    size_t min_ngram = 3;
    size_t max_ngram = 5;
    /// Feature weights, finite and >= 0, not all zero; a zero weight drops that feature kind.
    float word_weight = 1.0f;
    float bigram_weight = 0.7f;
    float char_weight = 1.0f;
    size_t max_document_bytes = kDefaultMaxDocumentBytes;
  };

  /// INVALID_ARGUMENT for options outside the ranges above.
  static Result<std::unique_ptr<HashingEmbedder>> create(const Options& options);

  size_t dimension() const override { return options_.dim; }
  Metric metric() const override { return Metric::kCosine; }
  bool normalized() const override { return true; }
  std::string name() const override;
  size_t max_document_bytes() const override { return options_.max_document_bytes; }
  const Options& options() const { return options_; }

 protected:
  Status embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                       std::span<Status> doc_status) override;

 private:
  explicit HashingEmbedder(const Options& options) : options_(options) {}
  const Options options_;
};

}  // namespace vecstream

// HashingEmbedder: tokeniser, feature hashing and the seeded signed projection.
#include "embed/hashing_embedder.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "embed/utf8.h"

namespace vecstream {

namespace {

// Hash seeds that keep the feature kinds apart: the token "ab" and the n-gram "ab" are different
// features. Part of the embedding's definition: changing them changes every vector.
constexpr uint64_t kWordSeed = 0x9d1c4a7f2b3e5d61ull;
constexpr uint64_t kBigramSeed = 0x3a6b9e0c7d2f1845ull;
constexpr uint64_t kCharSeed = 0xe5f1720b94c3ad86ull;
constexpr size_t kMaxNgramTokenChars = 64;
constexpr size_t kMaxDim = 16384;

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += kGolden);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// What a code point is to the tokeniser.
enum class CharClass { kToken, kSeparator };

CharClass classify(uint32_t cp) {
  if (cp < 0x80) {
    const bool alnum = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    return alnum ? CharClass::kToken : CharClass::kSeparator;
  }
  if (cp < 0xC0) return CharClass::kSeparator;             // C1 controls, NBSP, Latin-1 symbols
  if (cp == 0xD7 || cp == 0xF7) return CharClass::kSeparator;  // multiplication and division signs
  if (cp >= 0x2000 && cp <= 0x206F) return CharClass::kSeparator;  // general punctuation, spaces
  if (cp >= 0x3000 && cp <= 0x3002) return CharClass::kSeparator;  // ideographic space, comma, stop
  return CharClass::kToken;
}

bool is_ascii_space(uint32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v';
}

// Appends the lower-case form of one code point (given as its UTF-8 bytes) to `out`.
void append_folded(const char* p, size_t len, uint32_t cp, std::string& out) {
  if (cp >= 'A' && cp <= 'Z') {
    out.push_back(static_cast<char>(cp + 32));
  } else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
    // Latin-1 capitals: U+00C0..U+00DE -> U+00E0..U+00FE, both two bytes (C3 xx).
    out.push_back(p[0]);
    out.push_back(static_cast<char>(p[1] + 0x20));
  } else {
    out.append(p, len);
  }
}

struct Feature {
  uint32_t bucket;
  float value;
};

// Per-call scratch, reused for every document of the batch.
struct Scratch {
  std::string norm;              // " tok1 tok2 ... tokn " (lower-cased, single spaces)
  std::vector<uint32_t> tokens;  // [begin, end) byte offsets into norm, two per token
  std::vector<uint32_t> cps;     // code point starts of one "<token>", plus its end
  std::vector<Feature> features;
};

// Fills scratch.norm and scratch.tokens. With keep_punctuation, every non-space code point is a
// token character (the fallback for documents made only of punctuation).
void tokenize(std::string_view text, bool keep_punctuation, Scratch& s) {
  s.norm.clear();
  s.tokens.clear();
  s.norm.push_back(' ');
  bool in_token = false;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_sequence_length(static_cast<uint8_t>(text[i]));
    const uint32_t cp = utf8_decode(text.data() + i, len);
    const bool token_char =
        keep_punctuation ? !is_ascii_space(cp) : classify(cp) == CharClass::kToken;
    if (token_char) {
      if (!in_token) {
        s.tokens.push_back(static_cast<uint32_t>(s.norm.size()));
        in_token = true;
      }
      append_folded(text.data() + i, len, cp, s.norm);
    } else if (in_token) {
      s.tokens.push_back(static_cast<uint32_t>(s.norm.size()));
      s.norm.push_back(' ');
      in_token = false;
    }
    i += len;
  }
  if (in_token) {
    s.tokens.push_back(static_cast<uint32_t>(s.norm.size()));
    s.norm.push_back(' ');
  }
}

}  // namespace

Result<std::unique_ptr<HashingEmbedder>> HashingEmbedder::create(const Options& o) {
  if (o.dim < 2 || o.dim > kMaxDim) {
    return Status::invalid_argument("hashing embedder: dim must be in [2, " + std::to_string(kMaxDim) +
                                    "], got " + std::to_string(o.dim));
  }
  if (o.buckets < o.dim || o.buckets > (size_t{1} << 31)) {
    return Status::invalid_argument("hashing embedder: buckets must be in [dim, 2^31], got " +
                                    std::to_string(o.buckets));
  }
  if (o.min_ngram < 1 || o.max_ngram < o.min_ngram || o.max_ngram > 8) {
    return Status::invalid_argument("hashing embedder: need 1 <= min_ngram <= max_ngram <= 8, got " +
                                    std::to_string(o.min_ngram) + ".." + std::to_string(o.max_ngram));
  }
  for (float w : {o.word_weight, o.bigram_weight, o.char_weight}) {
    if (!std::isfinite(w) || w < 0) {
      return Status::invalid_argument("hashing embedder: weights must be finite and >= 0");
    }
  }
  if (o.word_weight == 0 && o.char_weight == 0) {
    // Bigrams alone would leave one-word documents without any feature.
    return Status::invalid_argument("hashing embedder: word_weight or char_weight must be > 0");
  }
  if (o.max_document_bytes == 0 || o.max_document_bytes > (size_t{1} << 30)) {
    return Status::invalid_argument("hashing embedder: max_document_bytes must be in [1, 2^30]");
  }
  return std::unique_ptr<HashingEmbedder>(new HashingEmbedder(o));
}

std::string HashingEmbedder::name() const {
  return "hashing(dim=" + std::to_string(options_.dim) + ",seed=" + std::to_string(options_.seed) + ")";
}

Status HashingEmbedder::embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                                      std::span<Status> doc_status) {
  const Options& o = options_;
  const size_t dim = o.dim;
  Scratch s;
  s.norm.reserve(256);
  s.tokens.reserve(64);
  s.cps.reserve(kMaxNgramTokenChars + 3);
  s.features.reserve(1024);

  auto add = [&](uint64_t seed, const char* p, size_t n, float weight) {
    const uint64_t h = XXH64(p, n, seed);
    s.features.push_back({static_cast<uint32_t>(h % o.buckets), (h >> 63) ? -weight : weight});
  };

  for (size_t doc = 0; doc < texts.size(); ++doc) {
    if (!doc_status[doc].is_ok()) continue;
    tokenize(texts[doc], /*keep_punctuation=*/false, s);
    if (s.tokens.empty()) tokenize(texts[doc], /*keep_punctuation=*/true, s);
    s.features.clear();
    const char* norm = s.norm.data();
    const size_t ntok = s.tokens.size() / 2;

    for (size_t t = 0; t < ntok; ++t) {
      const uint32_t b = s.tokens[2 * t], e = s.tokens[2 * t + 1];
      if (o.word_weight > 0) add(kWordSeed, norm + b, e - b, o.word_weight);
      if (o.bigram_weight > 0 && t + 1 < ntok) {
        // Adjacent tokens are one space apart in `norm`: the pair is a contiguous slice.
        add(kBigramSeed, norm + b, s.tokens[2 * t + 3] - b, o.bigram_weight);
      }
      if (o.char_weight > 0) {
        // "<token>": the separating spaces on both sides mark the word boundaries.
        s.cps.clear();
        for (uint32_t i = b - 1; i <= e && s.cps.size() <= kMaxNgramTokenChars + 2;
             i += static_cast<uint32_t>(utf8_sequence_length(static_cast<uint8_t>(norm[i])))) {
          s.cps.push_back(i);
        }
        const size_t nchars = s.cps.size();
        if (nchars > kMaxNgramTokenChars + 2) continue;  // not a word: no n-grams
        s.cps.push_back(e + 1);
        size_t count = 0;
        for (size_t n = o.min_ngram; n <= o.max_ngram && n <= nchars; ++n) count += nchars - n + 1;
        if (count == 0) continue;
        const float w = o.char_weight / std::sqrt(static_cast<float>(count));
        for (size_t n = o.min_ngram; n <= o.max_ngram && n <= nchars; ++n) {
          for (size_t i = 0; i + n <= nchars; ++i) {
            add(kCharSeed, norm + s.cps[i], s.cps[i + n] - s.cps[i], w);
          }
        }
      }
    }

    // The sparse vector: equal slots summed, in a fixed order (the sums must not depend on the
    // order the features were produced in).
    std::sort(s.features.begin(), s.features.end(), [](const Feature& a, const Feature& b) {
      return a.bucket != b.bucket ? a.bucket < b.bucket : a.value < b.value;
    });

    float* row = out.data() + doc * dim;
    std::fill_n(row, dim, 0.0f);
    for (size_t f = 0; f < s.features.size();) {
      const uint32_t bucket = s.features[f].bucket;
      float v = 0;
      for (; f < s.features.size() && s.features[f].bucket == bucket; ++f) v += s.features[f].value;
      if (v == 0) continue;
      // Row `bucket` of the projection: dim signs, 64 per splitmix64 draw.
      uint64_t state = o.seed ^ (static_cast<uint64_t>(bucket) * kGolden);
      const float signed_v[2] = {v, -v};
      for (size_t base = 0; base < dim; base += 64) {
        const uint64_t bits = splitmix64(state);
        const size_t n = std::min<size_t>(64, dim - base);
        for (size_t j = 0; j < n; ++j) row[base + j] += signed_v[(bits >> j) & 1];
      }
    }

    double norm2 = 0;
    for (size_t j = 0; j < dim; ++j) norm2 += static_cast<double>(row[j]) * row[j];
    if (!(norm2 > 0) || !std::isfinite(norm2)) {
      // Only when features cancel exactly (colliding slots with opposite signs).
      doc_status[doc] = Status::invalid_argument("document has no features left after hashing");
      continue;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (size_t j = 0; j < dim; ++j) row[j] *= inv;
  }
  return Status::ok();
}

}  // namespace vecstream

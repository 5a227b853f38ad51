// WordNet noun synsets (Debian wordnet-base, /usr/share/wordnet/data.noun) as a real text corpus
// for the embedder tests: each synset has a gloss (a one-line definition) and hypernym links, so
// "related" pairs (a concept and its parent) come from the data, not from the test's author.
//
// data.noun line: offset lex_filenum ss_type w_cnt word lex_id ... p_cnt [ptr offset pos st]... | gloss
#pragma once

#include "app/corpus.h"

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vecstream::testing {

// The corpus reader itself is the one the demo uses (app/corpus.h).
using vecstream::kWordNetNouns;
using Synset = WordNetSynset;

/// Up to `max` synsets in file order; empty when the file is missing.
inline std::vector<Synset> load_noun_synsets(size_t max = static_cast<size_t>(-1)) {
  auto r = load_wordnet_nouns(kWordNetNouns, max);
  return r.is_ok() ? std::move(*r) : std::vector<Synset>{};
}

/// Index of each synset by offset.
inline std::unordered_map<std::string, size_t> index_by_offset(const std::vector<Synset>& synsets) {
  std::unordered_map<std::string, size_t> idx;
  for (size_t i = 0; i < synsets.size(); ++i) idx.emplace(synsets[i].offset, i);
  return idx;
}

inline float dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

/// A concept's gloss, its hypernym's gloss and the gloss of an unrelated concept.
struct GlossTriple {
  std::string gloss, related, unrelated;
};

/// `count` triples spread evenly over `synsets` (whose hypernyms must be loaded too: load them
/// all). The unrelated partner is a fixed pseudo-random synset, never the concept or its parent.
inline std::vector<GlossTriple> gloss_triples(const std::vector<Synset>& synsets, size_t count) {
  const auto idx = index_by_offset(synsets);
  std::vector<GlossTriple> out;
  const size_t n = synsets.size();
  if (n < 3) return out;
  const size_t stride = std::max<size_t>(1, n / (count + 1));
  for (size_t i = stride / 2; i < n && out.size() < count; i += stride) {
    size_t at = i;
    while (at < n && synsets[at].hypernyms.empty()) ++at;  // roots have no hypernym
    if (at >= n) break;
    auto h = idx.find(synsets[at].hypernyms.front());
    if (h == idx.end()) continue;
    size_t u = (at * 7919 + n / 2) % n;
    while (u == at || u == h->second) u = (u + 1) % n;
    out.push_back({synsets[at].gloss, synsets[h->second].gloss, synsets[u].gloss});
  }
  return out;
}

/// How much closer a concept's gloss is to its hypernym's gloss than to an unrelated gloss.
struct RelatedVsUnrelated {
  size_t pairs = 0;
  double related_mean = 0;    // mean cosine of (gloss, hypernym's gloss)
  double unrelated_mean = 0;  // mean cosine of (gloss, unrelated gloss)
  double related_wins = 0;    // fraction of triples where the hypernym is the closer one
};

/// `vectors` holds L2-normalised embeddings of the triples' texts, three rows per triple in the
/// order gloss, related, unrelated.
inline RelatedVsUnrelated score_triples(const std::vector<float>& vectors, size_t dim) {
  RelatedVsUnrelated r;
  r.pairs = vectors.size() / (3 * dim);
  for (size_t t = 0; t < r.pairs; ++t) {
    const float* g = vectors.data() + (3 * t) * dim;
    const double rel = dot(g, g + dim, dim);
    const double unrel = dot(g, g + 2 * dim, dim);
    r.related_mean += rel;
    r.unrelated_mean += unrel;
    r.related_wins += rel > unrel ? 1.0 : 0.0;
  }
  if (r.pairs > 0) {
    r.related_mean /= static_cast<double>(r.pairs);
    r.unrelated_mean /= static_cast<double>(r.pairs);
    r.related_wins /= static_cast<double>(r.pairs);
  }
  return r;
}

/// The triples' texts flattened in score_triples' order.
inline std::vector<std::string_view> triple_texts(const std::vector<GlossTriple>& triples) {
  std::vector<std::string_view> texts;
  for (const GlossTriple& t : triples) {
    texts.push_back(t.gloss);
    texts.push_back(t.related);
    texts.push_back(t.unrelated);
  }
  return texts;
}

}  // namespace vecstream::testing

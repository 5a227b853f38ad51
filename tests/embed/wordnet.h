// WordNet noun synsets (Debian wordnet-base, /usr/share/wordnet/data.noun) as a real text corpus
// for the embedder tests: each synset has a gloss (a one-line definition) and hypernym links, so
// "related" pairs (a concept and its parent) come from the data, not from the test's author.
//
// data.noun line: offset lex_filenum ss_type w_cnt word lex_id ... p_cnt [ptr offset pos st]... | gloss
#pragma once

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vecstream::testing {

inline constexpr const char* kWordNetNouns = "/usr/share/wordnet/data.noun";

struct Synset {
  std::string offset;
  std::vector<std::string> hypernyms;  // offsets of '@' (and '@i') noun targets
  std::string gloss;                   // the definition, without the quoted examples
};

/// Up to `max` synsets in file order; empty when the file is missing. Parsed by hand (no stream
/// per line): the whole file is 82 000 lines and the sanitizer builds read it too.
inline std::vector<Synset> load_noun_synsets(size_t max = static_cast<size_t>(-1)) {
  std::vector<Synset> out;
  std::ifstream in(kWordNetNouns);
  std::string line;
  std::vector<std::string_view> fields;
  while (out.size() < max && std::getline(in, line)) {
    if (line.empty() || line[0] == ' ') continue;  // licence header
    const size_t bar = line.find(" | ");
    if (bar == std::string::npos) continue;
    fields.clear();
    const std::string_view head(line.data(), bar);
    for (size_t i = 0; i < head.size();) {
      const size_t sp = head.find(' ', i);
      const size_t end = sp == std::string_view::npos ? head.size() : sp;
      if (end > i) fields.push_back(head.substr(i, end - i));
      i = end + 1;
    }
    if (fields.size() < 5) continue;
    Synset s;
    s.offset = std::string(fields[0]);
    const size_t w_cnt = std::stoul(std::string(fields[3]), nullptr, 16);
    size_t at = 4 + 2 * w_cnt;  // past the (word, lex_id) pairs
    if (at >= fields.size()) continue;
    const size_t p_cnt = std::stoul(std::string(fields[at++]));
    for (size_t p = 0; p < p_cnt && at + 3 < fields.size(); ++p, at += 4) {
      if ((fields[at] == "@" || fields[at] == "@i") && fields[at + 2] == "n") {
        s.hypernyms.emplace_back(fields[at + 1]);
      }
    }
    std::string gloss = line.substr(bar + 3);
    if (const size_t ex = gloss.find("; \""); ex != std::string::npos) gloss.resize(ex);
    while (!gloss.empty() && (gloss.back() == ' ' || gloss.back() == ';')) gloss.pop_back();
    if (gloss.empty()) continue;
    s.gloss = std::move(gloss);
    out.push_back(std::move(s));
  }
  return out;
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

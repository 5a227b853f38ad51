// Public corpora, read from the files their Debian packages install: Fashion-MNIST images and
// labels (dataset-fashion-mnist, the ann-benchmarks set) and WordNet noun synsets (wordnet-base:
// words, a one-line gloss, hypernym links). The demo streams them; the benchmarks and tests
// measure on them. Built as its own small library (vs_corpus) so that bench/ and tests/ share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace vecstream {

inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
inline constexpr char kWordNetNouns[] = "/usr/share/wordnet/data.noun";

/// Pixels of one idx3-ubyte file (gzip-compressed or plain; zlib reads both): `count` images of
/// `rows` x `cols` uint8 pixels, returned as floats 0..255.
struct Idx3Images {
  size_t count = 0;
  size_t rows = 0;
  size_t cols = 0;
  std::vector<float> pixels;  // count * rows * cols
};

/// Reads an idx3-ubyte(.gz) file. Layout (all integers big-endian):
///   u32 magic = 0x00000803 | u32 count | u32 rows | u32 cols | count*rows*cols u8 pixels
/// Errors: IO_ERROR if the file cannot be opened or read; CORRUPTION for a damaged gzip stream, a
/// bad magic, implausible dimensions or a truncated header or pixel block.
Result<Idx3Images> read_idx3(const std::string& path);

/// Reads an idx1-ubyte(.gz) label file: u32 magic = 0x00000801 | u32 count | count u8 labels.
Result<std::vector<uint8_t>> read_idx1(const std::string& path);

/// The Fashion-MNIST class name of a label 0..9 ("T-shirt/top", "Trouser", ... "Ankle boot").
const char* fashion_mnist_class(uint8_t label);

/// One noun synset of WordNet's data.noun:
///   offset lex_filenum ss_type w_cnt word lex_id ... p_cnt [ptr offset pos st]... | gloss
struct WordNetSynset {
  std::string offset;
  std::vector<std::string> words;      // lemmas, '_' turned into spaces
  std::vector<std::string> hypernyms;  // offsets of '@' (and '@i') noun targets
  std::string gloss;                   // the definition, without the quoted examples
};

/// Up to `max` synsets in file order. IO_ERROR when the file is missing.
Result<std::vector<WordNetSynset>> load_wordnet_nouns(const std::string& path = kWordNetNouns,
                                                      size_t max = static_cast<size_t>(-1));

}  // namespace vecstream

// FastTextEmbedder: sentence vectors from a fastText model file (.bin, or a quantized .ftz),
// through fastText's own C++ library (Debian libfasttext-dev). For users who have a model trained
// on their domain, or one of the published ones (cc.<lang>.300.bin): unlike the hashing embedder,
// words that never co-occur can still be close.
//
// A sentence vector is fastText's getSentenceVector: for unsupervised models (skipgram, cbow) the
// mean of the L2-normalised vectors of the document's whitespace-separated words (built from their
// character n-grams, so unknown words get a vector too); for supervised models the mean of the
// input rows of its words and word n-grams. Line breaks in a document are read as spaces (fastText
// would stop at the first one). Optionally the result is L2-normalised (the default) and ASCII
// letters lower-cased first (for models trained on lower-cased text). A document none of whose
// words has a vector is rejected on its own ("no word known to the model").
//
// Loading never trusts the file: a missing file is NOT_FOUND, an unreadable one IO_ERROR, a file
// without fastText's magic number or with a newer format version, a truncated file or one with
// implausible sizes CORRUPTION. fastText reports these by throwing (or, for short reads, not at
// all); the loader reads through a stream that throws on any short read and converts every
// exception into a Status, so none escapes.
//
// Memory and time: the model's matrices (dim x (words + buckets) floats: ~7 GB for
// cc.en.300.bin), held for the embedder's lifetime; loading an unsupervised model also builds
// fastText's negative-sampling table (10M entries, ~0.4 s), so load once and share. Per call: one
// reusable text buffer and one vector; fastText itself still allocates a little per word (its
// subword lists), which its API does not let us avoid.
//
// Thread-safety: immutable after load(); embed() from any number of threads at once (fastText's
// sentence-vector path only reads the model).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "embed/embedder.h"

namespace vecstream {

class FastTextEmbedder final : public Embedder {
 public:
  struct Options {
    std::string model_path;
    /// L2-normalise the sentence vectors (then metric() is cosine and normalized() true).
    bool normalize = true;
    /// Lower-case ASCII letters before lookup: for models trained on lower-cased text.
    bool lowercase = false;
    size_t max_document_bytes = kDefaultMaxDocumentBytes;
  };

  /// Loads the model; the errors above.
  static Result<std::unique_ptr<FastTextEmbedder>> load(const Options& options);
  ~FastTextEmbedder() override;

  size_t dimension() const override { return dim_; }
  Metric metric() const override { return options_.normalize ? Metric::kCosine : Metric::kInnerProduct; }
  bool normalized() const override { return options_.normalize; }
  std::string name() const override { return "fasttext(" + options_.model_path + ")"; }
  size_t max_document_bytes() const override { return options_.max_document_bytes; }

 protected:
  Status embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                       std::span<Status> doc_status) override;

 private:
  struct Model;
  FastTextEmbedder(const Options& options, std::unique_ptr<Model> model, size_t dim);

  const Options options_;
  std::unique_ptr<Model> model_;
  const size_t dim_;
};

}  // namespace vecstream

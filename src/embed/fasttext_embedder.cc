// FastTextEmbedder: the checked loader and the sentence-vector loop.
#include "embed/fasttext_embedder.h"

#include <fasttext/fasttext.h>

#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <ios>
#include <istream>
#include <new>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <system_error>

namespace vecstream {

namespace {

// fastText's FastText with a loader that checks the header first (checkModel is protected, and
// the public loadModel(istream&) skips it).
class CheckedFastText : public fasttext::FastText {
 public:
  /// False when the magic number or the format version is wrong; throws on damage further on.
  bool load_checked(std::istream& in) {
    if (!checkModel(in)) return false;
    loadModel(in);
    return true;
  }
};

// A read-only istream source over a caller's buffer, re-pointed for every document: no stream is
// constructed or allocated per document.
class BufferSource : public std::streambuf {
 public:
  void reset(std::string& text) { setg(text.data(), text.data(), text.data() + text.size()); }
};

}  // namespace

struct FastTextEmbedder::Model {
  CheckedFastText ft;
};

FastTextEmbedder::FastTextEmbedder(const Options& options, std::unique_ptr<Model> model, size_t dim)
    : options_(options), model_(std::move(model)), dim_(dim) {}

FastTextEmbedder::~FastTextEmbedder() = default;

Result<std::unique_ptr<FastTextEmbedder>> FastTextEmbedder::load(const Options& options) {
  const std::string& path = options.model_path;
  const std::string what = "fastText model " + path;
  if (path.empty()) return Status::invalid_argument("fastText embedder: model_path is empty");
  if (options.max_document_bytes == 0) {
    return Status::invalid_argument("fastText embedder: max_document_bytes must be > 0");
  }
  std::error_code ec;
  const auto type = std::filesystem::status(path, ec).type();
  if (type == std::filesystem::file_type::not_found) return Status::not_found(what + ": no such file");
  if (ec) return Status::io_error(what + ": " + ec.message());
  if (type != std::filesystem::file_type::regular) return Status::io_error(what + ": not a regular file");

  auto model = std::make_unique<Model>();
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) return Status::io_error(what + ": cannot be opened for reading");
    // Any short read throws: fastText itself would carry on with garbage (or loop forever on a
    // dictionary cut in the middle of a word).
    in.exceptions(std::ios::failbit | std::ios::badbit);
    if (!model->ft.load_checked(in)) {
      return Status::corruption(what + ": not a fastText model (bad magic number or format version)");
    }
    if (in.peek() != std::char_traits<char>::eof()) {
      return Status::corruption(what + ": unexpected bytes after the model's last matrix");
    }
  } catch (const std::ios_base::failure&) {
    return Status::corruption(what + ": truncated or damaged (a read ran past the end of the file)");
  } catch (const std::bad_alloc&) {
    return Status::corruption(what + ": damaged or too large (its sizes need more memory than there is)");
  } catch (const std::length_error&) {
    return Status::corruption(what + ": damaged (implausible matrix or dictionary sizes)");
  } catch (const std::exception& e) {
    return Status::corruption(what + ": " + e.what());
  }
  const int dim = model->ft.getDimension();
  if (dim <= 0 || dim > 65536) {
    return Status::corruption(what + ": implausible dimension " + std::to_string(dim));
  }
  return std::unique_ptr<FastTextEmbedder>(
      new FastTextEmbedder(options, std::move(model), static_cast<size_t>(dim)));
}

Status FastTextEmbedder::embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                                       std::span<Status> doc_status) {
  const size_t dim = dim_;
  fasttext::Vector vec(static_cast<int64_t>(dim));
  std::string line;  // the document as fastText reads it: one line
  BufferSource source;
  std::istream in(&source);
  for (size_t doc = 0; doc < texts.size(); ++doc) {
    if (!doc_status[doc].is_ok()) continue;
    const std::string_view text = texts[doc];
    line.assign(text.begin(), text.end());
    for (char& c : line) {
      if (c == '\n' || c == '\r') {
        c = ' ';
      } else if (options_.lowercase && c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c + 32);
      }
    }
    source.reset(line);
    in.clear();
    model_->ft.getSentenceVector(in, vec);

    float* row = out.data() + doc * dim;
    double norm2 = 0;
    for (size_t j = 0; j < dim; ++j) {
      row[j] = vec[static_cast<int64_t>(j)];
      norm2 += static_cast<double>(row[j]) * row[j];
    }
    if (!std::isfinite(norm2)) {
      return Status::corruption(name() + ": the model produced a non-finite vector");
    }
    if (norm2 == 0) {
      doc_status[doc] = Status::invalid_argument("no word of the document is known to the model");
      continue;
    }
    if (options_.normalize) {
      const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
      for (size_t j = 0; j < dim; ++j) row[j] *= inv;
    }
  }
  return Status::ok();
}

}  // namespace vecstream

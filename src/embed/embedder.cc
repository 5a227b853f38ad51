// Embedder: the document checks and the two call forms shared by every implementation.
#include "embed/embedder.h"

#include <algorithm>
#include <exception>
#include <new>

#include "embed/utf8.h"

namespace vecstream {

namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

Status with_index(size_t i, const Status& s) {
  return Status(s.code(), "document " + std::to_string(i) + ": " + s.message());
}

}  // namespace

Status check_document(std::string_view text, size_t max_bytes) {
  if (text.empty()) return Status::invalid_argument("empty document");
  if (text.size() > max_bytes) {
    return Status::invalid_argument("document is " + std::to_string(text.size()) +
                                    " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (std::all_of(text.begin(), text.end(), is_ascii_space)) {
    return Status::invalid_argument("document is only whitespace");
  }
  if (const size_t bad = utf8_error_offset(text); bad != kUtf8Valid) {
    return Status::invalid_argument("document is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  return Status::ok();
}

Status Embedder::embed(std::span<const std::string_view> texts, std::span<float> out) {
  const size_t dim = dimension();
  if (out.size() != texts.size() * dim) {
    return Status::invalid_argument("output has " + std::to_string(out.size()) + " floats; " +
                                    std::to_string(texts.size()) + " documents of dimension " +
                                    std::to_string(dim) + " need " + std::to_string(texts.size() * dim));
  }
  if (texts.empty()) return Status::ok();
  // All or nothing: the first bad document fails the call before any work is done.
  const size_t max_bytes = max_document_bytes();
  for (size_t i = 0; i < texts.size(); ++i) {
    if (Status s = check_document(texts[i], max_bytes); !s.is_ok()) return with_index(i, s);
  }
  std::vector<Status> doc_status;  // one allocation per call: the implementations' protocol
  try {
    doc_status.resize(texts.size());
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("no memory for " + std::to_string(texts.size()) + " documents");
  }
  Status s;
  try {
    s = embed_checked(texts, out, doc_status);
  } catch (const std::exception& e) {
    s = Status::internal(name() + ": unexpected error: " + e.what());
  }
  if (!s.is_ok()) return s;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!doc_status[i].is_ok()) return with_index(i, doc_status[i]);
  }
  return Status::ok();
}

Status Embedder::embed(std::span<const std::string_view> texts, std::span<float> out,
                       std::span<Status> doc_status) {
  const size_t dim = dimension();
  if (doc_status.size() != texts.size()) {
    return Status::invalid_argument("doc_status has " + std::to_string(doc_status.size()) +
                                    " entries for " + std::to_string(texts.size()) + " documents");
  }
  if (out.size() != texts.size() * dim) {
    return Status::invalid_argument("output has " + std::to_string(out.size()) + " floats; " +
                                    std::to_string(texts.size()) + " documents of dimension " +
                                    std::to_string(dim) + " need " + std::to_string(texts.size() * dim));
  }
  const size_t max_bytes = max_document_bytes();
  size_t rejected = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    doc_status[i] = check_document(texts[i], max_bytes);
    if (!doc_status[i].is_ok()) ++rejected;
  }
  Status batch;
  if (rejected < texts.size()) {
    try {
      batch = embed_checked(texts, out, doc_status);
    } catch (const std::exception& e) {
      batch = Status::internal(name() + ": unexpected error: " + e.what());
    }
  }
  size_t first_bad = texts.size();
  rejected = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!batch.is_ok() && doc_status[i].is_ok()) doc_status[i] = batch;
    if (doc_status[i].is_ok()) continue;
    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(i * dim), dim, 0.0f);
    if (first_bad == texts.size()) first_bad = i;
    ++rejected;
  }
  if (!batch.is_ok()) return batch;
  if (rejected == 0) return Status::ok();
  const Status& first = doc_status[first_bad];
  return Status(first.code(), std::to_string(rejected) + " of " + std::to_string(texts.size()) +
                                  " documents rejected; first: document " +
                                  std::to_string(first_bad) + ": " + first.message());
}

Result<std::vector<float>> Embedder::embed_one(std::string_view text) {
  std::vector<float> v(dimension());
  const std::string_view texts[1] = {text};
  VS_RETURN_IF_ERROR(embed(texts, v));
  return v;
}

}  // namespace vecstream

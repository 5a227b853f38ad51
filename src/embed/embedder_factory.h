// EmbedderSpec / make_embedder: one description of "which embedder" — the built-in hashing
// embedder, a fastText model, or a remote EmbeddingService — shared by every command that needs
// one (`vecstream serve` for text queries, `vecstream embed-server`), with errors that name the
// offending field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "embed/embedder.h"

namespace vecstream {

struct EmbedderSpec {
  std::string kind = "hashing";  // hashing | fasttext | remote
  size_t dim = 0;                // hashing: 0 = 256; fasttext / remote: 0 = the model's, else checked
  uint64_t seed = 0;             // hashing: 0 = the default seed
  std::string model;             // fasttext: the .bin / .ftz model file
  bool lowercase = false;        // fasttext: lower-case ASCII before lookup
  std::string address;           // remote: gRPC target of the EmbeddingService
  uint32_t timeout_ms = 30000;   // remote: a call's deadline, retries included
};

/// INVALID_ARGUMENT naming the field ("embedder.model: ...") for a bad spec; the embedder's own
/// error (model file unreadable, server unreachable) otherwise.
Result<std::unique_ptr<Embedder>> make_embedder(const EmbedderSpec& spec);

}  // namespace vecstream

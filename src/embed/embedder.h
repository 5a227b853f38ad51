// Embedder: turns texts into fixed-size float vectors. It is the seam between the events that
// carry text instead of a vector (ingest) and the indexes, and the one interface behind the three
// ways Vecstream embeds: the built-in hashing embedder (no model files), a fastText model, and a
// remote EmbeddingService over gRPC (proto/embedding.proto).
//
// Why a batch call: every implementation is cheaper per document in batches (one RPC for 256
// documents, one pass over reused scratch buffers), and ingest already works in batches.
//
// Documents are checked here, once, before any implementation sees them: an empty or blank
// document, invalid UTF-8 and a document above max_document_bytes() are rejected with
// INVALID_ARGUMENT naming the document ("document 3: not valid UTF-8 (byte 17)"). Two call forms:
//   - embed(texts, out):              all or nothing; the first bad document fails the call.
//   - embed(texts, out, doc_status):  per document; good documents are embedded even when others
//                                     are rejected, and doc_status[i] says what became of each.
// The per-document form is what ingest needs: one bad event goes to the dead-letter topic with its
// reason while the rest of the batch is indexed.
//
// Thread-safety: every method may be called from any thread, concurrently; implementations keep
// per-call scratch, never shared mutable state without a lock. Nothing throws: exceptions from
// libraries (fastText, gRPC, allocation) are caught and turned into a Status.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/metric.h"
#include "core/status.h"

namespace vecstream {

/// The largest document any embedder takes by default (1 MiB). Longer texts are rejected rather
/// than truncated, so the caller decides how to split them.
inline constexpr size_t kDefaultMaxDocumentBytes = size_t{1} << 20;

class Embedder {
 public:
  virtual ~Embedder() = default;
  Embedder() = default;
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  /// Floats per vector; fixed for the embedder's lifetime.
  virtual size_t dimension() const = 0;
  /// The metric the vectors are meant for (a hint for the collection that stores them).
  virtual Metric metric() const = 0;
  /// True when every vector returned has L2 norm 1 (cosine = inner product).
  virtual bool normalized() const = 0;
  /// Short description for logs and errors, e.g. "hashing(dim=256,seed=42)".
  virtual std::string name() const = 0;
  /// Longest document accepted, in bytes.
  virtual size_t max_document_bytes() const = 0;

  /// Embeds texts[i] into out[i * dimension(), (i + 1) * dimension()). All or nothing: a bad
  /// document or a failure of the model or the server fails the call, and `out` is then
  /// unspecified. INVALID_ARGUMENT when out.size() != texts.size() * dimension().
  Status embed(std::span<const std::string_view> texts, std::span<float> out);

  /// Per document: doc_status.size() == texts.size(). Every good document is embedded; a rejected
  /// one gets its reason in doc_status[i] and a zero row in `out`. Returns OK when every document
  /// was embedded, INVALID_ARGUMENT ("2 of 10 documents rejected; first: document 3: ...") when
  /// some were rejected, and a failure of the whole batch (server unreachable, deadline) as itself,
  /// copied into the doc_status of every document that was not rejected on its own.
  Status embed(std::span<const std::string_view> texts, std::span<float> out,
               std::span<Status> doc_status);

  /// Convenience for one text (queries, tests): allocates the vector.
  Result<std::vector<float>> embed_one(std::string_view text);

 protected:
  /// The implementation's part. Called only with out.size() == texts.size() * dimension() and
  /// doc_status.size() == texts.size(), where documents that failed the checks above already
  /// have a non-OK status and must be skipped. It may reject a further document by setting its
  /// doc_status (e.g. "no word known to the model"); it returns non-OK only when the whole batch
  /// failed. Rows of rejected documents are zeroed by the caller.
  virtual Status embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                               std::span<Status> doc_status) = 0;
};

/// The checks every embedder applies to one document: not empty, not only ASCII whitespace,
/// valid UTF-8, at most max_bytes. INVALID_ARGUMENT with the reason, without the document's index.
Status check_document(std::string_view text, size_t max_bytes);

}  // namespace vecstream

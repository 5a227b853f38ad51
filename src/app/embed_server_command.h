// `vecstream embed-server`: serves EmbeddingService (proto/embedding.proto) with the built-in
// hashing embedder or a fastText model, so that ingest nodes (RemoteEmbedder) or any other client
// of the service can share one embedder. Listens on loopback unless told otherwise (the service
// has no authentication), prints one line with the address and port it listens on, and runs until
// SIGTERM or SIGINT; then it stops accepting, lets requests in flight finish (up to grace_ms) and
// exits 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vecstream {

struct EmbedServerArgs {
  std::string listen = "127.0.0.1:50052";  // host:port; port 0 picks a free one
  std::string embedder = "hashing";        // hashing | fasttext
  std::string model;                       // fastText model file (.bin / .ftz)
  size_t dim = 0;                          // hashing: 0 = 256; fasttext: 0 = the model's, else checked
  uint64_t seed = 0;                       // hashing: 0 = the default seed
  bool lowercase = false;                  // fasttext: lower-case ASCII before lookup
  size_t threads = 0;                      // 0 = hardware concurrency
  size_t max_documents = 1024;             // per request
  size_t max_request_bytes = size_t{16} << 20;
  int64_t grace_ms = 5000;
};

/// Runs the server until SIGTERM/SIGINT (which the caller has blocked in every thread, see
/// block_shutdown_signals in app/serve_command.h). Returns the process exit code.
int run_embed_server(const EmbedServerArgs& args);

}  // namespace vecstream

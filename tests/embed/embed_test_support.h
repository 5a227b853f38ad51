// Helpers for the embedding-service tests: a deliberately slow embedder (a server that misses
// deadlines) and a free loopback port (a server that is down).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "embed/hashing_embedder.h"

namespace vecstream::testing {

/// The hashing embedder, after sleeping `delay` per call.
class SlowEmbedder final : public Embedder {
 public:
  SlowEmbedder(size_t dim, std::chrono::milliseconds delay) : delay_(delay) {
    HashingEmbedder::Options o;
    o.dim = dim;
    inner_ = std::move(*HashingEmbedder::create(o));
  }
  size_t dimension() const override { return inner_->dimension(); }
  Metric metric() const override { return inner_->metric(); }
  bool normalized() const override { return true; }
  std::string name() const override { return "slow " + inner_->name(); }
  size_t max_document_bytes() const override { return inner_->max_document_bytes(); }
  std::atomic<int> calls{0};

 protected:
  Status embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                       std::span<Status>) override {
    calls.fetch_add(1);
    std::this_thread::sleep_for(delay_);
    return inner_->embed(texts, out);
  }

 private:
  std::unique_ptr<HashingEmbedder> inner_;
  std::chrono::milliseconds delay_;
};

/// A loopback port that nothing listens on (bound, read, released).
inline int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

inline std::string loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace vecstream::testing

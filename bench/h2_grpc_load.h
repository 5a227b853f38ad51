// H2GrpcLoad: gRPC search load from a lean client that speaks gRPC's wire protocol itself
// (HTTP/2 through nghttp2; see grpc_load.h for the schedule).
//
// Why a second client: the load runs on the server's own two cores, and gRPC's C++ client takes
// about 60-85 µs of CPU per query there (its completion queue, call objects, an executor thread)
// that the server then lacks. A client on another machine takes nothing from it. This one does
// what a gRPC client must on the wire and little else: one HTTP/2 connection per slot, a unary
// Search call per query (POST /vecstream.v1.Vecstream/Search with the length-prefixed message,
// the answer read from DATA and grpc-status from the trailers), or messages on the slot's one
// SearchStream. Requests are serialised once, before the clock starts; answers are parsed as
// they come. Everything from one thread, over epoll.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "grpc_load.h"

namespace vecstream::bench {

class H2GrpcLoad {
 public:
  using Requests = google::protobuf::RepeatedPtrField<::vecstream::v1::SearchRequest>;
  H2GrpcLoad(int port, bool stream, size_t slots, const Requests& reqs);
  ~H2GrpcLoad();
  H2GrpcLoad(const H2GrpcLoad&) = delete;
  H2GrpcLoad& operator=(const H2GrpcLoad&) = delete;

  /// The schedule of grpc_load.h over this generator's slots.
  GrpcAnswers run(double seconds, double rate);

  // The generator's side of run_schedule (grpc_load.h).
  std::string warm_up();
  void send(size_t slot, size_t q, LoadClock::time_point from);
  bool wait_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
                size_t* done);
  void close();

  struct Conn;  // one slot: its connection, HTTP/2 session and query in flight (h2_grpc_load.cc)

 private:
  /// Sends what the sessions have queued, waits (until `wake`) for bytes and feeds them to
  /// the sessions, whose callbacks queue finished queries. False when nothing came.
  bool pump(LoadClock::time_point wake);
  void flush(Conn& c);
  /// Books (or, in warm-up, only notes the error of) the oldest finished query.
  size_t pop_finished(GrpcAnswers* out, LoadClock::time_point deadline);

  const bool stream_;
  const size_t nq_, k_;
  const std::string authority_;
  std::vector<std::string> framed_;  // each request: gRPC's 5-byte prefix and the message
  std::vector<std::unique_ptr<Conn>> conns_;
  int epoll_fd_ = -1;
  std::deque<size_t> finished_;  // slots whose query ended, in order
  std::string warm_error_;
  bool closed_ = false;
};

}  // namespace vecstream::bench

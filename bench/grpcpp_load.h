// GrpcppLoad: gRPC search load from gRPC's own C++ client (see grpc_load.h for the schedule).
//
// One driver thread over `slots` connections (each its own channel), through a completion
// queue, as gRPC's own benchmark clients drive load: a blocking client thread per connection
// would pay a futex wake-up per answer on the very cores the server needs. Each slot has at
// most one query in flight: a unary Search call, or a message on the slot's one SearchStream.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "grpc_load.h"
#include "vecstream/v1/vecstream.grpc.pb.h"

namespace vecstream::bench {

class GrpcppLoad {
 public:
  using Requests = google::protobuf::RepeatedPtrField<::vecstream::v1::SearchRequest>;
  /// `reqs` must outlive the load.
  GrpcppLoad(int port, bool stream, size_t slots, const Requests& reqs);
  ~GrpcppLoad();
  GrpcppLoad(const GrpcppLoad&) = delete;
  GrpcppLoad& operator=(const GrpcppLoad&) = delete;

  /// The schedule of grpc_load.h over this generator's slots.
  GrpcAnswers run(double seconds, double rate);

  // The generator's side of run_schedule (grpc_load.h).
  std::string warm_up();
  void send(size_t slot, size_t q, LoadClock::time_point from);
  bool wait_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
                size_t* done);
  void close();

 private:
  enum Op : uintptr_t { kStarted = 0, kWritten = 1, kRead = 2, kFinished = 3 };
  struct Slot {
    std::unique_ptr<::vecstream::v1::Vecstream::Stub> stub;
    // unary
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientAsyncResponseReader<::vecstream::v1::SearchResponse>> call;
    ::vecstream::v1::SearchResponse resp;
    grpc::Status status;
    // stream
    grpc::ClientContext stream_ctx;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<::vecstream::v1::SearchRequest,
                                                  ::vecstream::v1::SearchStreamResponse>> rw;
    ::vecstream::v1::SearchStreamResponse stream_resp;
    bool broken = false;
    // the query in flight
    bool busy = false;
    int pending = 0;  // completions still to come for it
    size_t q = 0;
    LoadClock::time_point from;
  };

  static void* tag(size_t slot, Op op) { return reinterpret_cast<void*>((slot << 2) | op); }
  /// One completion (until `wake`); when it finishes a query, books it (warm-up: `out` null,
  /// only its error is kept) and sets *done to its slot. False on timeout.
  bool drain_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
                 size_t* done);

  const bool stream_;
  const Requests& reqs_;
  const size_t nq_, k_;
  std::vector<Slot> slots_;
  grpc::CompletionQueue cq_;
  std::vector<size_t> pending_errors_;
  std::string warm_error_;
  bool closed_ = false;
};

}  // namespace vecstream::bench

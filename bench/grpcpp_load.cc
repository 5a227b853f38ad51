#include "grpcpp_load.h"

#include <algorithm>

#include "embed/grpc_runtime.h"

namespace vecstream::bench {

namespace pb = ::vecstream::v1;

GrpcppLoad::GrpcppLoad(int port, bool stream, size_t slots, const Requests& reqs)
    : stream_(stream), reqs_(reqs), nq_(static_cast<size_t>(reqs.size())),
      k_(reqs.empty() || reqs[0].k() == 0 ? 10 : reqs[0].k()), slots_(slots) {
  prepare_grpc_runtime();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own per slot
  args.SetMaxReceiveMessageSize(64 << 20);
  for (Slot& sl : slots_) {
    sl.stub = pb::Vecstream::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
  }
}

GrpcppLoad::~GrpcppLoad() { close(); }

GrpcAnswers GrpcppLoad::run(double seconds, double rate) {
  return run_schedule(*this, slots_.size(), nq_, k_, seconds, rate);
}

std::string GrpcppLoad::warm_up() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (stream_) {
      slots_[i].rw = slots_[i].stub->AsyncSearchStream(&slots_[i].stream_ctx, &cq_, tag(i, kStarted));
      ++slots_[i].pending;
    } else {
      send(i, i % nq_, LoadClock::now());
    }
  }
  const auto never = LoadClock::time_point::max();
  if (stream_) {
    for (size_t i = 0; i < slots_.size(); ++i) drain_one(nullptr, never, never, nullptr);
    for (size_t i = 0; i < slots_.size(); ++i) send(i, i % nq_, LoadClock::now());
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    while (slots_[i].busy) drain_one(nullptr, never, never, nullptr);
  }
  return warm_error_;
}

void GrpcppLoad::send(size_t i, size_t q, LoadClock::time_point from) {
  Slot& sl = slots_[i];
  sl.busy = true;
  sl.q = q;
  sl.from = from;
  if (stream_) {
    if (sl.broken) {  // counted as an error at once
      sl.pending = 0;
      pending_errors_.push_back(i);
      return;
    }
    sl.pending = 2;
    sl.rw->Write(reqs_[static_cast<int>(q)], tag(i, kWritten));
    sl.rw->Read(&sl.stream_resp, tag(i, kRead));
  } else {
    sl.ctx = std::make_unique<grpc::ClientContext>();
    sl.ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    sl.call = sl.stub->AsyncSearch(sl.ctx.get(), reqs_[static_cast<int>(q)], &cq_);
    sl.pending = 1;
    sl.call->Finish(&sl.resp, &sl.status, tag(i, kFinished));
  }
}

bool GrpcppLoad::wait_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
                          size_t* done) {
  return drain_one(out, deadline, wake, done);
}

bool GrpcppLoad::drain_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
                           size_t* done) {
  static const pb::SearchResponse kEmpty;
  auto finish = [&](size_t i, const std::string& error, const pb::SearchResponse& r) {
    Slot& sl = slots_[i];
    sl.busy = false;
    if (out) {
      book_answer(out, sl.q, sl.from, deadline, error, r);
    } else if (!error.empty() && warm_error_.empty()) {
      warm_error_ = error;
    }
    if (done) *done = i;
  };
  if (!pending_errors_.empty()) {
    const size_t i = pending_errors_.back();
    pending_errors_.pop_back();
    finish(i, "gRPC stream: broken", kEmpty);
    return true;
  }
  void* t = nullptr;
  bool ok = false;
  const int64_t wait_us =
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(wake - LoadClock::now()).count());
  const auto sys_wake = wake == LoadClock::time_point::max()
                            ? gpr_inf_future(GPR_CLOCK_REALTIME)
                            : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_micros(wait_us, GPR_TIMESPAN));
  if (cq_.AsyncNext(&t, &ok, sys_wake) != grpc::CompletionQueue::GOT_EVENT) return false;
  const uintptr_t v = reinterpret_cast<uintptr_t>(t);
  const size_t i = v >> 2;
  const Op op = static_cast<Op>(v & 3);
  Slot& sl = slots_[i];
  if (op == kStarted) {
    --sl.pending;
    if (!ok) sl.broken = true;
    return true;
  }
  if (!ok) sl.broken = sl.broken || stream_;
  if (--sl.pending > 0) return true;
  std::string error;
  if (stream_) {
    if (sl.broken) {
      error = "gRPC stream: broken";
    } else if (sl.stream_resp.has_error()) {
      error = "gRPC stream: " + sl.stream_resp.error().message();
    }
  } else if (!sl.status.ok()) {
    error = "gRPC: " + sl.status.error_message();
  }
  finish(i, error, stream_ ? sl.stream_resp.result() : sl.resp);
  return true;
}

void GrpcppLoad::close() {
  if (closed_) return;
  closed_ = true;
  if (stream_) {
    size_t waiting = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& sl = slots_[i];
      if (!sl.rw) continue;
      if (sl.broken) {
        sl.stream_ctx.TryCancel();
        continue;
      }
      sl.rw->WritesDone(tag(i, kWritten));
      sl.rw->Finish(&sl.status, tag(i, kFinished));
      waiting += 2;
    }
    void* t = nullptr;
    bool ok = false;
    while (waiting > 0 && cq_.Next(&t, &ok)) --waiting;
  }
  cq_.Shutdown();
  void* t = nullptr;
  bool ok = false;
  while (cq_.Next(&t, &ok)) {
  }
}

}  // namespace vecstream::bench

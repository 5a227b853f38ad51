// What the serving benchmark's gRPC load generators share: the answers a run saw (GrpcAnswers,
// scored later by the process that has the ground truth) and the schedule that drives a
// generator's slots (run_schedule). Two generators implement it over real loopback sockets:
//   GrpcppLoad (grpcpp_load.h)  gRPC's own C++ client, from a completion queue
//   H2GrpcLoad (h2_grpc_load.h) a lean client speaking gRPC's HTTP/2 wire protocol (nghttp2)
// They run on the same cores as the server, so what a generator costs per query is taken from
// the server: the lean one takes less, as a client on another machine would take nothing.
#pragma once

#include <algorithm>
#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stream_peers.h"  // kNoPoint
#include "vecstream/v1/vecstream.pb.h"

namespace vecstream::bench {

using LoadClock = std::chrono::steady_clock;

/// What a gRPC load run saw, before scoring: each answer's query, latency and ids (k each), so
/// that the load process, which has no ground truth, can hand them back to be scored.
struct GrpcAnswers {
  size_t k = 0;
  std::vector<uint32_t> q;
  std::vector<double> latency_ms;
  std::vector<uint8_t> cached;
  std::vector<uint64_t> ids;
  size_t errors = 0;
  std::string first_error;
  double seconds = 0.0;  // what QPS is counted over
  // CPU time (user + system) of the generator's whole process over the measured window: the
  // load's own cost, when the generator runs in a process of its own.
  double process_cpu_seconds = 0.0;
};

/// CPU time (user + system) of this process so far, in seconds.
inline double process_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

/// Books one finished query into *out: an error (non-empty `error`), or the answer `r`. Nothing
/// for a query that ended after `deadline` (closed loop: past the measured window).
inline void book_answer(GrpcAnswers* out, size_t q, LoadClock::time_point from,
                        LoadClock::time_point deadline, const std::string& error,
                        const ::vecstream::v1::SearchResponse& r) {
  const LoadClock::time_point end = LoadClock::now();
  if (end > deadline) return;
  if (!error.empty()) {
    if (out->first_error.empty()) out->first_error = error;
    ++out->errors;
    return;
  }
  for (size_t j = 0; j < out->k; ++j) {
    out->ids.push_back(j < static_cast<size_t>(r.points_size()) ? r.points(static_cast<int>(j)).id().num()
                                                                : kNoPoint);
  }
  out->q.push_back(static_cast<uint32_t>(q));
  out->latency_ms.push_back(std::chrono::duration<double, std::milli>(end - from).count());
  out->cached.push_back(r.cached() ? 1 : 0);
}

/// Drives `slots` slots of a generator, each with at most one query in flight:
///   closed loop (rate 0): every slot sends its next query as soon as its answer is in, for
///     `seconds`; latency from the send. Slot i walks the queries from i * nq / slots on.
///   open loop: query j is due at start + j / rate; it goes to a free slot, or waits in order
///     for one; latency from the due time (a slow answer delays nobody's clock).
/// The generator provides:
///   std::string warm_up();  connections up, streams open, one query per slot answered (first-
///                           call costs paid before the clock starts); the first error, or ""
///   void send(size_t slot, size_t q, LoadClock::time_point from);
///   bool wait_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
///                 size_t* done);  one query finished (booked with book_answer, its slot in
///                 *done), or false when `wake` came first
///   void close();           ends streams and connections
template <class Generator>
GrpcAnswers run_schedule(Generator& g, size_t slots, size_t nq, size_t k, double seconds, double rate) {
  GrpcAnswers out;
  out.k = k;
  const std::string warm_error = g.warm_up();
  if (!warm_error.empty()) {
    out.first_error = warm_error;
    out.errors = 1;
  }
  auto to_duration = [](double s) {
    return std::chrono::duration_cast<LoadClock::duration>(std::chrono::duration<double>(s));
  };
  const double cpu0 = process_cpu_seconds();
  const LoadClock::time_point start = LoadClock::now();
  const LoadClock::time_point deadline = start + to_duration(seconds);
  const size_t total = rate > 0 ? static_cast<size_t>(rate * seconds) : 0;
  size_t next = 0;  // open loop: the next query to send
  auto due = [&](size_t j) { return start + to_duration(static_cast<double>(j) / rate); };
  std::vector<size_t> free_slots;
  for (size_t i = slots; i-- > 0;) free_slots.push_back(i);
  std::vector<size_t> cursor(slots);
  for (size_t i = 0; i < slots; ++i) cursor[i] = i * nq / slots;
  auto next_of = [&](size_t i) { return cursor[i]++ % nq; };
  if (rate <= 0) {  // every slot starts at once
    while (!free_slots.empty()) {
      const size_t i = free_slots.back();
      free_slots.pop_back();
      g.send(i, next_of(i), LoadClock::now());
    }
  }
  constexpr size_t kNone = ~size_t{0};
  for (;;) {
    const LoadClock::time_point now = LoadClock::now();
    if (rate > 0) {
      while (next < total && !free_slots.empty() && due(next) <= now) {
        const size_t i = free_slots.back();
        free_slots.pop_back();
        g.send(i, next % nq, due(next));
        ++next;
      }
      if (next >= total && free_slots.size() == slots) break;
    } else if (free_slots.size() == slots) {
      break;  // past the deadline and everything answered
    }
    LoadClock::time_point wake = LoadClock::now() + std::chrono::seconds(1);
    if (rate > 0 && next < total && !free_slots.empty()) wake = due(next);
    size_t done = kNone;
    const bool got = g.wait_one(&out, rate > 0 ? LoadClock::time_point::max() : deadline, wake, &done);
    if (!got || done == kNone) continue;
    if (rate <= 0 && LoadClock::now() < deadline) {
      g.send(done, next_of(done), LoadClock::now());
    } else {
      free_slots.push_back(done);
    }
  }
  const double elapsed = std::chrono::duration<double>(LoadClock::now() - start).count();
  out.process_cpu_seconds = process_cpu_seconds() - cpu0;
  g.close();
  out.seconds = rate > 0 ? std::max(elapsed, seconds) : seconds;
  return out;
}

}  // namespace vecstream::bench

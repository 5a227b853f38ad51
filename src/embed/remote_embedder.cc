// RemoteEmbedder: request batching across calls, the in-flight window, retries with backoff, and
// the hand-back of answers to the calls that wait for them.
//
// Object lifetimes:
//   Call     one embed() invocation: where its rows go and how many are still missing. Shared
//            (shared_ptr) by the caller and every batch holding some of its documents; the caller
//            may give up (deadline, error) and return while batches still refer to it, so rows
//            are written only under Call::mu and only while the call has not been abandoned.
//   Batch    one request (with copies of its documents) and the pieces of calls it answers.
//            Owned by exactly one place at a time, always under Impl::mu: the open batch, the
//            ready queue, the backing-off list or the in-flight map; the gRPC callback takes it
//            back from the in-flight map when the attempt ends. Its request is what every
//            attempt sends: it outlives each attempt's callback (a batch is freed at the earliest
//            inside the callback of its last attempt, and never changes while in flight).
//   Attempt  one Encode() of a batch: its ClientContext and response. Shared by the batch (the
//            destructor cancels through it) and by the callback closure handed to gRPC, which
//            gRPC destroys after the callback has returned and after its own last use of the
//            call. So a retry never frees the previous attempt's context or response under
//            gRPC's feet, and the destructor, which waits until no attempt is left, returns only
//            when gRPC is done with every call this embedder started.
//
// Why the destructor must wait for the attempts themselves, not only for the in-flight map: a
// ClientContext co-owns the grpc::Channel. Were the last context freed on a gRPC callback thread
// after the embedder (and its reference to the channel) were gone, the channel would be destroyed
// on that thread, inside its own callback. With gRPC's per-process callback queue (the
// "nexting_thread"s of libgrpc++ 1.51 on Linux) that shuts the queue down and frees it from one
// of its own threads, which then reads the freed queue: "ref_counted.h: assertion failed:
// prior > 0".
#include "embed/remote_embedder.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "embed/grpc_runtime.h"
#include "embed/grpc_status.h"
#include "embedding.grpc.pb.h"

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
  std::mutex mu;
  std::condition_variable cv;
  float* out = nullptr;         // the caller's rows; written under mu while !abandoned
  size_t pending = 0;           // documents not answered yet
  Status error;                 // the first error of any of its batches
  std::atomic<bool> abandoned{false};  // set under mu; read without it only as a hint
  Clock::time_point deadline;
};

// Documents [first_row, first_row + count) of one call, consecutive in a batch's request.
struct Piece {
  std::shared_ptr<Call> call;
  size_t first_row;
  size_t count;
};

// The attempts that still exist (see Attempt), so that the embedder's destructor can wait until
// gRPC has let go of every one.
class AttemptCounter {
 public:
  void add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++live_;
  }
  void remove() {
    // Notified under the lock: the waiter may destroy the counter as soon as it sees zero.
    std::lock_guard<std::mutex> lock(mu_);
    if (--live_ == 0) cv_.notify_all();
  }
  void wait_until_none() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return live_ == 0; });
  }

 private:
  std::mutex mu_;  // a leaf: never held while taking another lock
  std::condition_variable cv_;
  size_t live_ = 0;
};

// Counts its Attempt as live from construction to destruction.
class AttemptRegistration {
 public:
  explicit AttemptRegistration(AttemptCounter& counter) : counter_(counter) { counter_.add(); }
  ~AttemptRegistration() { counter_.remove(); }
  AttemptRegistration(const AttemptRegistration&) = delete;
  AttemptRegistration& operator=(const AttemptRegistration&) = delete;

 private:
  AttemptCounter& counter_;
};

// What gRPC's callback API uses for one Encode() besides the request: it must outlive the
// callback. See "Object lifetimes" above.
struct Attempt {
  explicit Attempt(AttemptCounter& counter) : registration(counter) {}

  AttemptRegistration registration;  // first, so destroyed last: after the context
  grpc::ClientContext context;
  embedding::EncodeResponse response;
};

struct Batch {
  std::vector<Piece> pieces;
  embedding::EncodeRequest request;
  std::shared_ptr<Attempt> attempt;  // the latest; a new one per attempt
  size_t docs = 0;
  size_t bytes = 0;
  int attempts = 0;
  Clock::time_point first_sent;
  Clock::time_point deadline;  // the latest deadline of the calls it serves
  Clock::time_point retry_at;

  bool all_abandoned() const {
    return std::all_of(pieces.begin(), pieces.end(),
                       [](const Piece& p) { return p.call->abandoned.load(std::memory_order_relaxed); });
  }
};

std::chrono::system_clock::time_point to_system(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

std::atomic<int64_t> g_test_callback_delay_us{0};  // TEST_remote_embedder_callback_delay

std::string seconds_text(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

struct RemoteEmbedder::Impl {
  explicit Impl(const Options& o) : options(o), server_name("embedding server " + o.target) {}

  const Options options;
  const std::string server_name;  // prefix of every error message
  size_t dim = 0;                 // set once in create(), before the scheduler starts
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<embedding::EmbeddingService::Stub> stub;

  std::mutex mu;
  std::condition_variable sched_cv;  // wakes the scheduler: new open batch, retry, stop
  std::condition_variable idle_cv;   // wakes the destructor: an attempt ended
  std::unique_ptr<Batch> open;
  Clock::time_point open_flush_at;
  std::deque<std::unique_ptr<Batch>> ready;
  std::vector<std::unique_ptr<Batch>> backing_off;
  std::unordered_map<Batch*, std::unique_ptr<Batch>> in_flight;
  size_t starting = 0;     // batches taken for sending whose Encode() has not returned yet
  size_t queued_docs = 0;  // documents in all batches not finished
  bool stopping = false;
  AttemptCounter live_attempts;  // its own lock; never waited on under `mu`
  std::mt19937_64 jitter_rng{0x6a09e667f3bcc908ull};
  std::thread scheduler;

  std::atomic<uint64_t> requests{0}, retries{0}, failed_requests{0}, documents{0};

  // ---- sending ----

  // Takes the ready batches that fit in the in-flight window and prepares their next attempt.
  // Batches no caller waits for any more are dropped here.
  std::vector<Batch*> take_startable_locked() {
    std::vector<Batch*> out;
    while (!stopping && in_flight.size() < options.max_in_flight && !ready.empty()) {
      std::unique_ptr<Batch> b = std::move(ready.front());
      ready.pop_front();
      if (b->all_abandoned()) {
        queued_docs -= b->docs;
        continue;
      }
      const Clock::time_point now = Clock::now();
      if (b->attempts++ == 0) b->first_sent = now;
      // The previous attempt (if any) lives on until gRPC drops its callback.
      b->attempt = std::make_shared<Attempt>(live_attempts);
      b->attempt->context.set_deadline(
          to_system(std::min(now + options.attempt_timeout, b->deadline)));
      requests.fetch_add(1, std::memory_order_relaxed);
      Batch* raw = b.get();
      in_flight.emplace(raw, std::move(b));
      out.push_back(raw);
    }
    starting += out.size();
    return out;
  }

  // Starts the attempts taken by take_startable_locked(), on the thread that took them. Without
  // the lock: a callback may run (and free the batch) before Encode() returns, so `b` is not
  // touched after its Encode(). Until then nobody else changes it: it sits in the in-flight map.
  void send(const std::vector<Batch*>& batches) {
    if (batches.empty()) return;
    for (Batch* b : batches) {
      std::shared_ptr<Attempt> attempt = b->attempt;
      Attempt* a = attempt.get();
      // The closure co-owns the attempt: gRPC frees the closure after its last use of the call.
      stub->async()->Encode(&a->context, &b->request, &a->response,
                            [this, b, attempt = std::move(attempt)](grpc::Status s) {
                              on_done(b, *attempt, s);
                            });
    }
    std::lock_guard<std::mutex> lock(mu);
    starting -= batches.size();
    idle_cv.notify_all();
  }

  // ---- answers ----

  Status check_answer(const Batch& b, const embedding::EncodeResponse& response) const {
    const auto& vectors = response.vectors();
    if (static_cast<size_t>(vectors.size()) != b.docs) {
      return Status::internal(server_name + " answered " + std::to_string(vectors.size()) +
                              " vectors for " + std::to_string(b.docs) + " documents");
    }
    for (int i = 0; i < vectors.size(); ++i) {
      const auto& values = vectors[i].values();
      if (static_cast<size_t>(values.size()) != dim) {
        return Status::failed_precondition(server_name + " returned vectors of dimension " +
                                           std::to_string(values.size()) + "; this embedder expects " +
                                           std::to_string(dim));
      }
      for (float v : values) {
        if (!std::isfinite(v)) {
          return Status::internal(server_name + " returned a non-finite value in vector " +
                                  std::to_string(i));
        }
      }
    }
    return Status::ok();
  }

  void deliver(const Batch& b, const embedding::EncodeResponse& response) {
    int k = 0;
    for (const Piece& p : b.pieces) {
      Call& call = *p.call;
      std::lock_guard<std::mutex> lock(call.mu);
      if (!call.abandoned.load(std::memory_order_relaxed) && call.error.is_ok()) {
        for (size_t j = 0; j < p.count; ++j) {
          const auto& values = response.vectors(k + static_cast<int>(j)).values();
          std::copy(values.begin(), values.end(), call.out + (p.first_row + j) * dim);
        }
        call.pending -= p.count;
        if (call.pending == 0) call.cv.notify_all();
      }
      k += static_cast<int>(p.count);
    }
  }

  static void fail(const Batch& b, const Status& error) {
    for (const Piece& p : b.pieces) {
      Call& call = *p.call;
      std::lock_guard<std::mutex> lock(call.mu);
      if (call.error.is_ok()) {
        call.error = error;
        call.cv.notify_all();
      }
    }
  }

  Clock::duration backoff_locked(int attempts) {
    double ms = static_cast<double>(options.initial_backoff.count()) *
                std::pow(options.backoff_multiplier, attempts - 1);
    ms = std::min(ms, static_cast<double>(options.max_backoff.count()));
    ms *= std::uniform_real_distribution<double>(0.8, 1.2)(jitter_rng);
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
  }

  // The gRPC callback of one attempt. `raw` is in the in-flight map until taken out here.
  void on_done(Batch* raw, const Attempt& attempt, const grpc::Status& s) {
    std::optional<Status> error;
    if (s.ok()) {
      Status answer = check_answer(*raw, attempt.response);
      if (answer.is_ok()) {
        // Counted before the callers wake: stats() read after a call returns includes it.
        documents.fetch_add(raw->docs, std::memory_order_relaxed);
        deliver(*raw, attempt.response);
      } else {
        error = std::move(answer);
      }
    }
    std::unique_ptr<Batch> finished;
    std::vector<Batch*> next;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto node = in_flight.extract(raw);
      std::unique_ptr<Batch> b = std::move(node.mapped());
      bool retrying = false;
      if (!s.ok()) {
        const Clock::time_point now = Clock::now();
        if (is_retryable(s.error_code()) && !stopping && b->attempts < options.max_attempts &&
            !b->all_abandoned()) {
          const Clock::time_point at = now + backoff_locked(b->attempts);
          if (at < b->deadline) {
            b->retry_at = at;
            backing_off.push_back(std::move(b));
            retries.fetch_add(1, std::memory_order_relaxed);
            sched_cv.notify_one();
            retrying = true;
          }
        }
        if (!retrying) {
          Status st = from_grpc(s, server_name);
          if (is_retryable(s.error_code())) {
            st = Status(st.code(), st.message() + " (gave up after " + std::to_string(b->attempts) +
                                       (b->attempts == 1 ? " attempt in " : " attempts in ") +
                                       seconds_text(now - b->first_sent) + ")");
          }
          error = std::move(st);
        }
      }
      if (!retrying) {
        queued_docs -= b->docs;
        if (error) failed_requests.fetch_add(1, std::memory_order_relaxed);
        finished = std::move(b);
      }
      next = take_startable_locked();
      idle_cv.notify_all();
    }
    // The embedder outlives this callback: its destructor waits until gRPC has dropped it (see
    // live_attempts) and, for the sends started here, until `starting` is back to zero.
    if (error) fail(*finished, *error);
    send(next);
    if (const int64_t us = g_test_callback_delay_us.load(std::memory_order_relaxed); us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
  }

  // ---- timers ----

  // Seals the open batch when its linger expires and requeues batches whose backoff expired.
  void schedule_loop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      const Clock::time_point now = Clock::now();
      if (open && open_flush_at <= now) ready.push_back(std::move(open));
      for (auto it = backing_off.begin(); it != backing_off.end();) {
        if ((*it)->retry_at <= now) {
          ready.push_front(std::move(*it));
          it = backing_off.erase(it);
        } else {
          ++it;
        }
      }
      std::vector<Batch*> next = take_startable_locked();
      if (!next.empty()) {
        lock.unlock();
        send(next);
        lock.lock();
        continue;
      }
      Clock::time_point wake = Clock::time_point::max();
      if (open) wake = open_flush_at;
      for (const auto& b : backing_off) wake = std::min(wake, b->retry_at);
      if (wake == Clock::time_point::max()) {
        sched_cv.wait(lock);
      } else {
        sched_cv.wait_until(lock, wake);
      }
    }
  }

  // ---- dimension probe ----

  Status probe_dimension() {
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + options.timeout;
    embedding::EncodeRequest req;
    req.add_raw_documents("dimension probe");
    for (int attempt = 1;; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(to_system(std::min(Clock::now() + options.attempt_timeout, deadline)));
      embedding::EncodeResponse resp;
      const grpc::Status s = stub->Encode(&ctx, req, &resp);
      if (s.ok()) {
        if (resp.vectors_size() != 1 || resp.vectors(0).values_size() == 0) {
          return Status::internal(server_name + " answered the dimension probe with " +
                                  std::to_string(resp.vectors_size()) + " vectors");
        }
        dim = static_cast<size_t>(resp.vectors(0).values_size());
        return Status::ok();
      }
      Clock::time_point retry_at = Clock::now();
      {
        std::lock_guard<std::mutex> lock(mu);
        retry_at += backoff_locked(attempt);
      }
      if (!is_retryable(s.error_code()) || attempt >= options.max_attempts || retry_at >= deadline) {
        Status st = from_grpc(s, server_name);
        return Status(st.code(), "dimension probe: " + st.message() + " (after " +
                                     std::to_string(attempt) + " attempts in " +
                                     seconds_text(Clock::now() - start) + ")");
      }
      std::this_thread::sleep_until(retry_at);
    }
  }
};

// ---- RemoteEmbedder ----------------------------------------------------------------------------

RemoteEmbedder::RemoteEmbedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RemoteEmbedder::~RemoteEmbedder() {
  Impl& m = *impl_;
  std::vector<std::unique_ptr<Batch>> queued;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.stopping = true;
    if (m.open) queued.push_back(std::move(m.open));
    for (auto& b : m.ready) queued.push_back(std::move(b));
    for (auto& b : m.backing_off) queued.push_back(std::move(b));
    m.ready.clear();
    m.backing_off.clear();
    // Cancelling before an attempt has started is fine: gRPC cancels it when it starts.
    for (auto& entry : m.in_flight) entry.second->attempt->context.TryCancel();
    m.sched_cv.notify_all();
  }
  const Status closed = Status::failed_precondition(m.server_name + ": the embedder was destroyed");
  for (const auto& b : queued) Impl::fail(*b, closed);
  queued.clear();  // their last attempts may still be held by callbacks returning right now
  if (m.scheduler.joinable()) m.scheduler.join();
  {
    std::unique_lock<std::mutex> lock(m.mu);
    m.idle_cv.wait(lock, [&m] { return m.in_flight.empty() && m.starting == 0; });
  }
  // Every callback has taken its batch back; wait until gRPC has dropped the callbacks too, so
  // that the last reference to the channel is the one released here, on this thread.
  m.live_attempts.wait_until_none();
}

Result<std::unique_ptr<RemoteEmbedder>> RemoteEmbedder::create(const Options& o) {
  auto bad = [](const std::string& what) { return Status::invalid_argument("remote embedder: " + what); };
  if (o.target.empty()) return bad("target is empty");
  if (o.dim > 65536) return bad("dim must be at most 65536 (0 = ask the server)");
  if (o.max_batch_documents == 0 || o.max_batch_documents > 65536) {
    return bad("max_batch_documents must be in [1, 65536]");
  }
  if (o.max_batch_bytes == 0) return bad("max_batch_bytes must be at least 1");
  if (o.max_document_bytes == 0 || o.max_document_bytes > o.max_batch_bytes) {
    return bad("max_document_bytes must be in [1, max_batch_bytes]");
  }
  if (o.max_in_flight == 0) return bad("max_in_flight must be at least 1");
  if (o.max_queued_documents < o.max_batch_documents) {
    return bad("max_queued_documents must be at least max_batch_documents");
  }
  if (o.batch_linger.count() < 0) return bad("batch_linger must be >= 0");
  if (o.timeout.count() <= 0 || o.attempt_timeout.count() <= 0) {
    return bad("timeout and attempt_timeout must be > 0");
  }
  if (o.max_attempts < 1 || o.max_attempts > 100) return bad("max_attempts must be in [1, 100]");
  if (o.initial_backoff.count() <= 0 || o.max_backoff < o.initial_backoff) {
    return bad("need 0 < initial_backoff <= max_backoff");
  }
  if (!(o.backoff_multiplier >= 1.0) || !std::isfinite(o.backoff_multiplier)) {
    return bad("backoff_multiplier must be finite and >= 1");
  }
  if (o.max_response_bytes == 0 ||
      o.max_response_bytes > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return bad("max_response_bytes must be in [1, 2^31)");
  }

  prepare_grpc_runtime();
  auto impl = std::make_unique<Impl>(o);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(o.max_response_bytes));
  args.SetMaxSendMessageSize(-1);
  // Reconnect soon after a server comes back: gRPC's default first backoff is a full second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  impl->channel = grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args);
  if (!impl->channel) return Status::invalid_argument("remote embedder: bad target " + o.target);
  impl->stub = embedding::EmbeddingService::NewStub(impl->channel);
  if (o.dim == 0) {
    VS_RETURN_IF_ERROR(impl->probe_dimension());
  } else {
    impl->dim = o.dim;
  }
  Impl* raw = impl.get();
  impl->scheduler = std::thread([raw] { raw->schedule_loop(); });
  return std::unique_ptr<RemoteEmbedder>(new RemoteEmbedder(std::move(impl)));
}

void TEST_remote_embedder_callback_delay(std::chrono::microseconds delay) {
  g_test_callback_delay_us.store(delay.count(), std::memory_order_relaxed);
}

size_t RemoteEmbedder::dimension() const { return impl_->dim; }
Metric RemoteEmbedder::metric() const { return impl_->options.metric; }
bool RemoteEmbedder::normalized() const { return impl_->options.normalized; }
std::string RemoteEmbedder::name() const { return "remote(" + impl_->options.target + ")"; }
size_t RemoteEmbedder::max_document_bytes() const { return impl_->options.max_document_bytes; }

RemoteEmbedder::Stats RemoteEmbedder::stats() const {
  Stats s;
  s.requests = impl_->requests.load(std::memory_order_relaxed);
  s.retries = impl_->retries.load(std::memory_order_relaxed);
  s.failed_requests = impl_->failed_requests.load(std::memory_order_relaxed);
  s.documents = impl_->documents.load(std::memory_order_relaxed);
  return s;
}

Status RemoteEmbedder::embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                                     std::span<Status> doc_status) {
  Impl& m = *impl_;
  const Options& o = m.options;
  const size_t valid =
      static_cast<size_t>(std::count_if(doc_status.begin(), doc_status.end(),
                                        [](const Status& s) { return s.is_ok(); }));
  if (valid == 0) return Status::ok();
  const Clock::time_point start = Clock::now();
  auto call = std::make_shared<Call>();
  call->out = out.data();
  call->pending = valid;
  call->deadline = start + o.timeout;

  std::vector<Batch*> next;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.stopping) return Status::failed_precondition(m.server_name + ": the embedder is closing");
    if (m.queued_docs + valid > o.max_queued_documents) {
      return Status::resource_exhausted(
          m.server_name + ": " + std::to_string(m.queued_docs) + " documents already wait for it; " +
          std::to_string(valid) + " more would pass max_queued_documents (" +
          std::to_string(o.max_queued_documents) + ")");
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!doc_status[i].is_ok()) continue;
      const std::string_view text = texts[i];
      if (m.open && (m.open->docs >= o.max_batch_documents || m.open->bytes + text.size() > o.max_batch_bytes)) {
        m.ready.push_back(std::move(m.open));
      }
      if (!m.open) {
        m.open = std::make_unique<Batch>();
        m.open_flush_at = start + o.batch_linger;
      }
      Batch& b = *m.open;
      b.request.add_raw_documents(text.data(), text.size());
      if (!b.pieces.empty() && b.pieces.back().call == call &&
          b.pieces.back().first_row + b.pieces.back().count == i) {
        ++b.pieces.back().count;
      } else {
        b.pieces.push_back({call, i, 1});
      }
      ++b.docs;
      b.bytes += text.size();
      b.deadline = std::max(b.deadline, call->deadline);
    }
    m.queued_docs += valid;
    if (m.open && (m.open->docs >= o.max_batch_documents || o.batch_linger.count() == 0)) {
      m.ready.push_back(std::move(m.open));
    }
    next = m.take_startable_locked();
    if (m.open) m.sched_cv.notify_one();
  }
  m.send(next);

  std::unique_lock<std::mutex> lock(call->mu);
  const bool finished = call->cv.wait_until(
      lock, call->deadline, [&call] { return call->pending == 0 || !call->error.is_ok(); });
  if (finished && call->error.is_ok()) return Status::ok();
  // From here on no batch writes into `out`.
  call->abandoned.store(true, std::memory_order_relaxed);
  if (!finished) {
    return Status::io_error(m.server_name + ": DEADLINE_EXCEEDED: no complete answer within " +
                            std::to_string(o.timeout.count()) + " ms (" +
                            std::to_string(valid - call->pending) + " of " + std::to_string(valid) +
                            " documents answered)");
  }
  return call->error;
}

}  // namespace vecstream

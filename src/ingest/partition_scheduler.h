// PartitionScheduler: per-partition FIFO queues of jobs served by a fixed pool of threads, with at
// most one job of a partition running at a time — so each partition's jobs run in order while
// different partitions run in parallel, and a slow partition holds up no other. A job whose
// processor answers kRetry goes back to the head of its queue and waits a backoff (doubling from
// `retry_base` up to 5 s) before it runs again; the partition's later jobs wait behind it.
//
// Threading: push(), drop() and stop() may be called from any thread; the processor runs on the
// pool's threads, and gets the index of the thread running it (for per-thread scratch state).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vecstream {

enum class JobOutcome { kDone, kRetry };

template <typename Job>
class PartitionScheduler {
 public:
  using Processor = std::function<JobOutcome(size_t thread, int32_t partition, Job& job)>;
  using Clock = std::chrono::steady_clock;

  PartitionScheduler(size_t partitions, size_t threads, Processor processor,
                     std::chrono::milliseconds retry_base)
      : processor_(std::move(processor)), retry_base_(retry_base), parts_(partitions) {
    for (size_t t = 0; t < threads; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~PartitionScheduler() { stop(); }
  PartitionScheduler(const PartitionScheduler&) = delete;
  PartitionScheduler& operator=(const PartitionScheduler&) = delete;

  /// Queues a job behind the partition's others.
  void push(int32_t partition, Job job) {
    {
      std::lock_guard lk(mu_);
      parts_[partition].queue.push_back(std::move(job));
    }
    cv_.notify_one();
  }

  /// Discards the partition's queued jobs (a job being retried included) and waits until none of
  /// its jobs is running. Returns the number of jobs discarded.
  size_t drop(int32_t partition) {
    std::unique_lock lk(mu_);
    Part& p = parts_[partition];
    const size_t n = p.queue.size();
    p.queue.clear();
    ++p.epoch;  // a job running now is not put back
    p.attempts = 0;
    p.retry_at = {};
    idle_cv_.wait(lk, [&] { return !p.busy; });
    return n;
  }

  /// Stops the threads after the jobs running now; queued jobs are discarded.
  void stop() {
    {
      std::lock_guard lk(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    std::lock_guard lk(mu_);
    for (Part& p : parts_) p.queue.clear();
  }

 private:
  struct Part {
    std::deque<Job> queue;
    bool busy = false;
    uint64_t epoch = 0;
    uint32_t attempts = 0;
    Clock::time_point retry_at{};
  };

  void run(size_t thread) {
    std::unique_lock lk(mu_);
    size_t next = 0;  // round-robin start, so no partition starves
    while (!stop_) {
      const Clock::time_point now = Clock::now();
      Clock::time_point wake = Clock::time_point::max();
      size_t found = parts_.size();
      for (size_t i = 0; i < parts_.size(); ++i) {
        const size_t k = (next + i) % parts_.size();
        Part& p = parts_[k];
        if (p.busy || p.queue.empty()) continue;
        if (p.retry_at > now) {
          wake = std::min(wake, p.retry_at);
          continue;
        }
        found = k;
        break;
      }
      if (found == parts_.size()) {
        if (wake == Clock::time_point::max()) {
          cv_.wait(lk);
        } else {
          cv_.wait_until(lk, wake);
        }
        continue;
      }
      next = found + 1;
      Part& p = parts_[found];
      p.busy = true;
      const uint64_t epoch = p.epoch;
      Job job = std::move(p.queue.front());
      p.queue.pop_front();
      lk.unlock();
      const JobOutcome outcome = processor_(thread, static_cast<int32_t>(found), job);
      lk.lock();
      p.busy = false;
      if (outcome == JobOutcome::kRetry && epoch == p.epoch && !stop_) {
        p.queue.push_front(std::move(job));
        const auto backoff = std::min<std::chrono::milliseconds>(
            retry_base_ * (int64_t{1} << std::min<uint32_t>(p.attempts, 16)), std::chrono::seconds(5));
        ++p.attempts;
        p.retry_at = Clock::now() + backoff;
      } else {
        p.attempts = 0;
        p.retry_at = {};
      }
      idle_cv_.notify_all();
      cv_.notify_one();  // the partition may have more, for another thread
    }
  }

  Processor processor_;
  const std::chrono::milliseconds retry_base_;
  std::mutex mu_;
  std::condition_variable cv_;       // work queued, retry due, or stop
  std::condition_variable idle_cv_;  // a job finished (drop() waits for it)
  std::vector<Part> parts_;
  bool stop_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest exists
};

}  // namespace vecstream

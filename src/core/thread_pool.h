// ThreadPool: a fixed set of worker threads for batch work (batched search, parallel build).
//
// parallel_for(n, fn) splits [0, n) into chunks handed out dynamically to the workers *and* the
// calling thread, and returns when all are done. Calls from several threads are serialised (one
// batch at a time), which is what batch callers want; nested calls from inside a task run inline.
// Workers never run above the caller that hands them a batch: a background caller (an indexer,
// core/thread_priority.h) lowers them, and they stay lowered (lowering is one-way).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/thread_priority.h"

namespace vecstream {

class ThreadPool {
 public:
  /// threads = total parallelism including the caller; 0 = hardware concurrency.
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  /// Runs fn(begin, end, worker_index) over chunks of [0, n) of about `grain` items;
  /// worker_index < size(). Blocks until every chunk has run.
  void parallel_for(size_t n, size_t grain,
                    const std::function<void(size_t, size_t, size_t)>& fn);
  /// parallel_for, but if another caller's batch holds the pool, runs everything in the calling
  /// thread instead of waiting: for callers that hold a lock the running batch's tasks may need.
  void parallel_for_or_inline(size_t n, size_t grain,
                              const std::function<void(size_t, size_t, size_t)>& fn);

 private:
  void worker_loop(size_t index);
  void run_chunks(size_t worker_index);
  void run_batch(size_t n, size_t grain, const std::function<void(size_t, size_t, size_t)>& fn);  // batch_mu_ held

  std::vector<std::thread> workers_;
  std::mutex batch_mu_;  // one batch at a time
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(size_t, size_t, size_t)>* fn_ = nullptr;
  size_t n_ = 0, grain_ = 1, next_ = 0, active_ = 0;
  ThreadPriority priority_ = ThreadPriority::kNormal;  // the current batch's caller's
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace vecstream

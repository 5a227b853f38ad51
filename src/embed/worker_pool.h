// WorkerPool: a fixed set of threads draining a bounded FIFO of tasks. The embedding server runs
// every Encode on it so that gRPC's event threads only parse and dispatch, and so that the work
// waiting at any moment is bounded (a full queue refuses instead of growing).
//
// (The serve layer's gRPC server has the same mechanism in its .cc; this layer sits below serve
// and cannot use it.)
//
// Thread-safety: submit() from any thread; stop() from one thread (the destructor calls it).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vecstream {

class WorkerPool {
 public:
  /// threads >= 1; max_pending >= 1 tasks may wait beyond those running.
  WorkerPool(size_t threads, size_t max_pending);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `task`; false (and `task` dropped) when the queue is full or the pool is stopping.
  bool submit(std::function<void()> task);

  /// Runs what is queued, then joins the threads. Later calls do nothing.
  void stop();

 private:
  void loop();

  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vecstream

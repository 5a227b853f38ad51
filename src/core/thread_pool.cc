#include "core/thread_pool.h"

namespace vecstream {

namespace {
thread_local bool tl_inside_pool = false;
}

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks(size_t worker_index) {
  for (;;) {
    size_t begin, end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_ >= n_) return;
      begin = next_;
      end = std::min(n_, begin + grain_);
      next_ = end;
    }
    (*fn_)(begin, end, worker_index);
  }
}

void ThreadPool::worker_loop(size_t index) {
  tl_inside_pool = true;
  uint64_t seen = 0;
  for (;;) {
    ThreadPriority priority;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      priority = priority_;
      ++active_;
    }
    // Best effort: a refusal leaves the worker where it is.
    if (priority > current_thread_priority()) (void)lower_current_thread_priority(priority);
    run_chunks(index);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) cv_done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(size_t n, size_t grain,
                              const std::function<void(size_t, size_t, size_t)>& fn) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  if (workers_.empty() || tl_inside_pool || n <= grain) {
    fn(0, n, 0);
    return;
  }
  std::lock_guard<std::mutex> batch(batch_mu_);
  run_batch(n, grain, fn);
}

void ThreadPool::parallel_for_or_inline(size_t n, size_t grain,
                                        const std::function<void(size_t, size_t, size_t)>& fn) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  std::unique_lock<std::mutex> batch(batch_mu_, std::try_to_lock);
  if (workers_.empty() || tl_inside_pool || n <= grain || !batch.owns_lock()) {
    fn(0, n, 0);
    return;
  }
  run_batch(n, grain, fn);
}

void ThreadPool::run_batch(size_t n, size_t grain,
                           const std::function<void(size_t, size_t, size_t)>& fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    grain_ = grain;
    next_ = 0;
    priority_ = current_thread_priority();
    ++generation_;
  }
  cv_start_.notify_all();
  tl_inside_pool = true;
  run_chunks(0);
  tl_inside_pool = false;
  std::unique_lock<std::mutex> lock(mu_);
  cv_done_.wait(lock, [&] { return active_ == 0 && next_ >= n_; });
  fn_ = nullptr;
}

}  // namespace vecstream

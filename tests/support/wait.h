// Bounded waits for concurrency tests: a test that needs "the readers are running" waits for it
// explicitly instead of hoping the scheduler starts them before the writer finishes (on a loaded
// 2-core CI machine it often does not).
#pragma once

#include <chrono>
#include <thread>

namespace vecstream::testing {

// Polls `pred` until it is true or `timeout` passes; returns the last value of `pred`.
template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace vecstream::testing

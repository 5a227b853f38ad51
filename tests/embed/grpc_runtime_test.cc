// prepare_grpc_runtime: abseil's lock-order detector, on by default in Debian's abseil (built
// without NDEBUG) and paid on every lock gRPC takes, is off after it.
#include "embed/grpc_runtime.h"

#include <absl/synchronization/mutex.h>
#include <gtest/gtest.h>

namespace vecstream {
namespace {

// Takes two mutexes in both orders, one after the other: no deadlock happens, but the
// acquired-before graph gets a cycle, which the detector reports (and, by default, aborts on).
void lock_in_both_orders() {
  absl::Mutex a, b;
  {
    absl::MutexLock la(&a);
    absl::MutexLock lb(&b);
  }
  {
    absl::MutexLock lb(&b);
    absl::MutexLock la(&a);
  }
}

// The control: without prepare_grpc_runtime the detector is live here, so the test below can
// fail. (A death test re-executes the binary: its child has not called prepare_grpc_runtime.)
TEST(GrpcRuntimeDeathTest, AbseilDetectsLockOrderCyclesByDefault) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(lock_in_both_orders(), "deadlock");
}

TEST(GrpcRuntime, LockOrderDetectionIsOff) {
  prepare_grpc_runtime();
  prepare_grpc_runtime();  // idempotent
  lock_in_both_orders();   // would abort with the detector on
  SUCCEED();
}

}  // namespace
}  // namespace vecstream

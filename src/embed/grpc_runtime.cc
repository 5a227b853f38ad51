#include "embed/grpc_runtime.h"

#include <mutex>

#include <absl/synchronization/mutex.h>

namespace vecstream {

void prepare_grpc_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  });
}

}  // namespace vecstream

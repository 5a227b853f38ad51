#include "core/thread_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vecstream {

namespace {
thread_local ThreadPriority tl_priority = ThreadPriority::kNormal;
}

std::string_view thread_priority_name(ThreadPriority p) {
  switch (p) {
    case ThreadPriority::kNormal: return "normal";
    case ThreadPriority::kLow: return "low";
    case ThreadPriority::kIdle: return "idle";
  }
  return "normal";
}

Result<ThreadPriority> parse_thread_priority(std::string_view name) {
  if (name == "normal") return ThreadPriority::kNormal;
  if (name == "low") return ThreadPriority::kLow;
  if (name == "idle") return ThreadPriority::kIdle;
  return Status::invalid_argument("thread priority must be normal, low or idle, not \"" +
                                  std::string(name) + "\"");
}

ThreadPriority current_thread_priority() { return tl_priority; }

Status lower_current_thread_priority(ThreadPriority p) {
  if (p <= tl_priority) return Status::ok();
  // Both calls act on the calling thread only (Linux: nice and policy are per thread).
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  if (p == ThreadPriority::kLow) {
    if (::setpriority(PRIO_PROCESS, tid, 19) != 0) {
      return Status::internal(std::string("setpriority(19): ") + std::strerror(errno));
    }
  } else {
    sched_param sp{};
    sp.sched_priority = 0;
    if (::sched_setscheduler(0, SCHED_IDLE, &sp) != 0) {
      return Status::internal(std::string("sched_setscheduler(SCHED_IDLE): ") + std::strerror(errno));
    }
  }
  tl_priority = p;
  return Status::ok();
}

}  // namespace vecstream

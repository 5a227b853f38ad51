// ThreadPriority: how a thread competes for a core against the threads that answer queries.
//
// Background work (indexing, compaction, checkpoints) runs below query threads, so a query never
// waits a time slice behind a graph build: on a machine with few cores that wait, not the search,
// is what a query's p99 is made of while data streams in. Background work then runs on the cores
// queries leave free; when queries leave none, writers that find the indexing backlog too long
// index in their own, normal-priority threads (segment/shard.cc), so writes slow down instead of
// piling up.
//
// Linux lets a thread lower its own priority but not raise it back without privilege
// (RLIMIT_NICE, CAP_SYS_NICE), so lowering is one-way: a thread is lowered once, at the start of
// its background loop. Threads it creates inherit the lowered priority.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace vecstream {

enum class ThreadPriority : uint8_t {
  kNormal = 0,  // as created
  kLow = 1,     // nice 19: about 1.5% of a core against a busy normal thread
  kIdle = 2,    // SCHED_IDLE: runs only on a core nothing else wants
};

/// "normal", "low", "idle".
std::string_view thread_priority_name(ThreadPriority p);
Result<ThreadPriority> parse_thread_priority(std::string_view name);

/// The calling thread's priority as last set through lower_current_thread_priority (kNormal
/// until then). Free: a thread-local read.
ThreadPriority current_thread_priority();

/// Lowers the calling thread to `p` if it is above it (a no-op otherwise). An error, with the
/// thread unchanged, where the OS refuses.
Status lower_current_thread_priority(ThreadPriority p);

}  // namespace vecstream

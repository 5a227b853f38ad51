// EpochDomain: lock-free publication of immutable snapshots with safe reclamation.
//
// Readers never lock or wait: a reader announces the current epoch in its own slot, loads the
// published pointer, uses it, and clears the slot (Guard does both). A writer publishes a new
// snapshot by swapping the pointer and retiring the old one with the epoch of the swap; a retired
// snapshot is deleted once every reader that could have loaded it has left (no slot announces an
// epoch at or before the retire epoch). This is what std::atomic<std::shared_ptr> would give,
// without its internal spin lock (and without ThreadSanitizer's complaints about it).
//
// Slots are per thread (assigned on a thread's first use, returned when it exits), padded to a
// cache line so readers on different cores do not share lines. Up to kMaxThreads threads may use
// a domain at once; past that, readers fall back to a shared overflow slot counted with an atomic
// (still lock-free, slightly more conservative reclamation).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace vecstream {

class EpochDomain {
 public:
  static constexpr size_t kMaxThreads = 512;

  EpochDomain();
  ~EpochDomain();  // deletes everything still retired
  EpochDomain(const EpochDomain&) = delete;
  EpochDomain& operator=(const EpochDomain&) = delete;

  /// Marks the calling thread as reading for its lifetime. Nests.
  class Guard {
   public:
    explicit Guard(EpochDomain& d);
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    EpochDomain& d_;
    size_t slot_;
    uint64_t prev_;
  };

  /// Hands `deleter` the job of freeing something readers may still hold; runs it once no reader
  /// that entered before this call is left. Any thread (writers serialise among themselves).
  void retire(std::function<void()> deleter);
  /// Runs the deleters that are safe now. Called by retire(); callable any time.
  void reclaim();
  size_t pending() const;

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> epoch{0};  // 0 = not reading
  };
  uint64_t min_active() const;

  std::unique_ptr<Slot[]> slots_;
  std::atomic<uint64_t> epoch_{1};
  std::atomic<uint64_t> overflow_readers_{0};
  std::atomic<uint64_t> overflow_min_{0};
  mutable std::mutex retire_mu_;  // writers only
  std::vector<std::pair<uint64_t, std::function<void()>>> retired_;
};

/// A pointer to an immutable T published through an EpochDomain. load() under a Guard.
template <typename T>
class EpochPtr {
 public:
  explicit EpochPtr(EpochDomain& d) : d_(d) {}
  ~EpochPtr() { delete p_.load(std::memory_order_relaxed); }
  /// Valid until the caller's Guard ends.
  const T* load() const { return p_.load(std::memory_order_seq_cst); }
  /// Publishes `next`; the previous snapshot is deleted once no reader can hold it.
  void publish(std::unique_ptr<const T> next) {
    const T* old = p_.exchange(next.release(), std::memory_order_seq_cst);
    if (old) d_.retire([old] { delete old; });
  }

 private:
  EpochDomain& d_;
  std::atomic<const T*> p_{nullptr};
};

}  // namespace vecstream

#include "core/epoch.h"

#include <algorithm>
#include <limits>

namespace vecstream {

namespace {

// Per-thread slot numbers, shared by every domain: a thread takes the lowest free number on first
// use and gives it back when it exits.
class SlotRegistry {
 public:
  static SlotRegistry& instance() {
    static SlotRegistry* r = new SlotRegistry();  // never destroyed: threads may exit late
    return *r;
  }
  size_t acquire() {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < used_.size(); ++i) {
      if (!used_[i]) {
        used_[i] = true;
        return i;
      }
    }
    return EpochDomain::kMaxThreads;  // overflow
  }
  void release(size_t i) {
    if (i >= used_.size()) return;
    std::lock_guard lk(mu_);
    used_[i] = false;
  }

 private:
  std::mutex mu_;
  std::vector<bool> used_ = std::vector<bool>(EpochDomain::kMaxThreads, false);
};

struct ThreadSlot {
  size_t index = SlotRegistry::instance().acquire();
  ~ThreadSlot() { SlotRegistry::instance().release(index); }
};

size_t my_slot() {
  thread_local ThreadSlot slot;
  return slot.index;
}

}  // namespace

EpochDomain::EpochDomain() : slots_(new Slot[kMaxThreads]) {}

EpochDomain::~EpochDomain() {
  for (auto& [e, fn] : retired_) fn();
}

EpochDomain::Guard::Guard(EpochDomain& d) : d_(d), slot_(my_slot()), prev_(0) {
  if (slot_ < kMaxThreads) {
    prev_ = d_.slots_[slot_].epoch.load(std::memory_order_relaxed);
    if (prev_ == 0) {
      // exchange (seq_cst) orders the announcement before the reader's pointer load.
      d_.slots_[slot_].epoch.exchange(d_.epoch_.load(std::memory_order_seq_cst),
                                      std::memory_order_seq_cst);
    }
  } else {
    // Overflow readers: the smallest epoch any of them could hold is the one current when the
    // first of them entered; kept until they have all left.
    if (d_.overflow_readers_.fetch_add(1, std::memory_order_seq_cst) == 0) {
      d_.overflow_min_.store(d_.epoch_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
    }
  }
}

EpochDomain::Guard::~Guard() {
  if (slot_ < kMaxThreads) {
    if (prev_ == 0) d_.slots_[slot_].epoch.store(0, std::memory_order_release);
  } else {
    d_.overflow_readers_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

uint64_t EpochDomain::min_active() const {
  uint64_t m = std::numeric_limits<uint64_t>::max();
  for (size_t i = 0; i < kMaxThreads; ++i) {
    const uint64_t e = slots_[i].epoch.load(std::memory_order_seq_cst);
    if (e != 0) m = std::min(m, e);
  }
  if (overflow_readers_.load(std::memory_order_seq_cst) != 0) {
    // An overflow reader may have entered before overflow_min_ was set: assume the oldest.
    m = std::min(m, std::max<uint64_t>(1, overflow_min_.load(std::memory_order_seq_cst)) - 1);
  }
  return m;
}

void EpochDomain::retire(std::function<void()> deleter) {
  {
    std::lock_guard lk(retire_mu_);
    // The pointer was swapped before this: a reader announcing an epoch after this increment
    // loads the new pointer, so the old one is safe once every announced epoch is newer.
    const uint64_t e = epoch_.fetch_add(1, std::memory_order_seq_cst);
    retired_.emplace_back(e, std::move(deleter));
  }
  reclaim();
}

void EpochDomain::reclaim() {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lk(retire_mu_);
    const uint64_t active = min_active();
    auto keep = std::partition(retired_.begin(), retired_.end(),
                               [active](const auto& r) { return r.first >= active; });
    for (auto it = keep; it != retired_.end(); ++it) ready.push_back(std::move(it->second));
    retired_.erase(keep, retired_.end());
  }
  for (auto& fn : ready) fn();
}

size_t EpochDomain::pending() const {
  std::lock_guard lk(retire_mu_);
  return retired_.size();
}

}  // namespace vecstream

// BuildProgress: the optional callback that long index builds (training, large add_batch calls)
// report through, so a server or a CLI can show progress without the index knowing about either.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace vecstream {

/// Called with a stage name ("train", "add", "build"), the rows (or trees) done and the total.
/// Runs on the thread that called the build method; it must not call back into the index.
using ProgressFn = std::function<void(std::string_view stage, size_t done, size_t total)>;

/// Reports every `every` units of work and once at the end; free when `fn` is empty.
class ProgressReporter {
 public:
  ProgressReporter(const ProgressFn& fn, std::string_view stage, size_t total, size_t every)
      : fn_(fn), stage_(stage), total_(total), every_(every == 0 ? 1 : every) {}

  /// `done` units are complete; reports when a multiple of `every` was crossed, or at the end.
  void update(size_t done) {
    if (!fn_) return;
    if (done >= total_ || done / every_ != last_ / every_) {
      if (done != last_ || done == 0) fn_(stage_, done, total_);
      last_ = done;
    }
  }

 private:
  const ProgressFn& fn_;
  std::string_view stage_;
  size_t total_;
  size_t every_;
  size_t last_ = 0;
};

}  // namespace vecstream

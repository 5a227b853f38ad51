// WorkDir: where a benchmark keeps its collections' files.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "core/status.h"

namespace vecstream::bench {

/// A benchmark's working directory: the one the user gave, or a temporary one removed when this
/// goes out of scope.
class WorkDir {
 public:
  /// `given` (created if missing, kept), or a new directory TMPDIR/<prefix>-XXXXXX (removed).
  static Result<WorkDir> make(const std::string& given, const std::string& prefix) {
    WorkDir w;
    if (!given.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(given, ec);
      if (ec) return Status::io_error("--dir " + given + ": " + ec.message());
      w.path_ = given;
      return w;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::io_error("cannot create a temp dir " + tmpl);
    w.path_ = tmpl;
    w.remove_ = true;
    return w;
  }
  WorkDir() = default;
  WorkDir(WorkDir&& o) noexcept : path_(std::move(o.path_)), remove_(o.remove_) { o.remove_ = false; }
  ~WorkDir() {
    if (remove_) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }
  bool temporary() const { return remove_; }

 private:
  std::string path_;
  bool remove_ = false;
};

}  // namespace vecstream::bench

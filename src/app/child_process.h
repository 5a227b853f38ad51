// ChildProcess: a helper program (`vecstream kafka-dev`, `vecstream serve`) run as its own process
// by the demo and the benchmarks — the way a user runs them — rather than inside the caller.
//
// The child gets its own process group, so a terminal's Ctrl-C reaches only the parent, which then
// stops its children in order; it is sent SIGTERM if the parent dies (PR_SET_PDEATHSIG), so none
// outlives a crashed or killed parent; its signal mask is cleared before exec (the parent blocks
// SIGINT/SIGTERM to take them in one thread); its stderr (structured logs) goes to a file, its
// stdout to a pipe from which first_line() reads the line it prints once it is ready.
//
// Thread safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/status.h"

namespace vecstream {

/// The path of the running executable (/proc/self/exe).
std::string self_executable();

/// The `vecstream` binary: this executable if it is `vecstream`, else `vecstream` beside it (the
/// benchmark program lives next to it).
std::string vecstream_executable();

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// Stops the child (stop(5000)) if it still runs.
  ~ChildProcess();

  /// Starts `exe` with `args` (argv[1..]); `name` is for messages. IO_ERROR if it cannot.
  Status start(const std::string& name, const std::string& exe, const std::vector<std::string>& args,
               const std::string& log_file);
  /// The first line the child prints on stdout, within `timeout_ms`. IO_ERROR if it exits first
  /// or the time passes.
  Result<std::string> first_line(int timeout_ms);
  /// SIGTERM, then up to `grace_ms` for it to exit, then SIGKILL. The exit code (128 + signal
  /// when a signal ended it, -1 when it had to be killed). Idempotent.
  int stop(int grace_ms);
  /// True while the child runs (reaps it when it has exited).
  bool alive();
  pid_t pid() const { return pid_; }

 private:
  std::string name_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = 0;
};

}  // namespace vecstream

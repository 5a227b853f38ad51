#include "app/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;

int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

}  // namespace

std::string self_executable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "vecstream";
}

std::string vecstream_executable() {
  const std::string self = self_executable();
  const size_t slash = self.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  const std::string base = slash == std::string::npos ? self : self.substr(slash + 1);
  return base == "vecstream" ? self : dir + "/vecstream";
}

ChildProcess::~ChildProcess() { stop(5000); }

Status ChildProcess::start(const std::string& name, const std::string& exe,
                           const std::vector<std::string>& args, const std::string& log_file) {
  if (pid_ > 0) return Status::failed_precondition(name + " already started");
  name_ = name;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::io_error("pipe: " + std::string(std::strerror(errno)));
  const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return Status::io_error("cannot create " + log_file + ": " + std::strerror(errno));
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(out[1]);
  ::close(log);
  if (pid_ < 0) {
    ::close(out[0]);
    return Status::io_error("fork: " + std::string(std::strerror(errno)));
  }
  out_fd_ = out[0];
  return Status::ok();
}

Result<std::string> ChildProcess::first_line(int timeout_ms) {
  std::string got;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (got.find('\n') == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return Status::io_error(name_ + " did not start within " + std::to_string(timeout_ms / 1000) + " s");
    }
    pollfd pfd{out_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 200))) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
    if (n <= 0) return Status::io_error(name_ + " exited before it was ready (see its log)");
    got.append(buf, static_cast<size_t>(n));
  }
  return got.substr(0, got.find('\n'));
}

int ChildProcess::stop(int grace_ms) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, SIGTERM);
  int st = 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  for (;;) {
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = exit_code(st);
      break;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      status_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  out_fd_ = -1;
  pid_ = -1;
  return status_;
}

bool ChildProcess::alive() {
  if (pid_ <= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = exit_code(st);
    pid_ = -1;
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
    return false;
  }
  return true;
}

}  // namespace vecstream

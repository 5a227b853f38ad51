// ServeProcess: a real `vecstream serve` child process for end-to-end tests of the clients. It
// listens on 127.0.0.1 only, on ports the OS picks (--http-port 0, --grpc-address 127.0.0.1:0; the
// server prints the ports it got), with a fresh data directory; stop() sends SIGTERM and reaps it,
// and the destructor does so too (SIGKILL if it does not stop in time). If the test process dies
// first, the kernel sends the server SIGTERM (PR_SET_PDEATHSIG): no server outlives its test.
//
// Also here: run_command(), which runs a shell command with its output captured, and
// shell_quote().
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "support/temp_dir.h"

extern char** environ;

namespace vecstream::testing {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

/// 'text' for /bin/sh, with embedded single quotes escaped.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or not run
  std::string out, err;
};

/// Runs `command` under /bin/sh with stdout and stderr captured in files of `scratch`; `stdin_text`
/// (if not null) is its standard input, otherwise /dev/null.
inline CommandResult run_command(const TempDir& scratch, const std::string& command,
                                 const std::string* stdin_text = nullptr) {
  static int counter = 0;
  const std::string base = scratch / ("cmd-" + std::to_string(++counter));
  std::string in = "/dev/null";
  if (stdin_text) {
    in = base + ".in";
    write_text_file(in, *stdin_text);
  }
  const std::string full = command + " <" + shell_quote(in) + " >" + shell_quote(base + ".out") +
                           " 2>" + shell_quote(base + ".err");
  const int rc = std::system(full.c_str());
  CommandResult r;
  r.exit_code = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_text_file(base + ".out");
  r.err = read_text_file(base + ".err");
  return r;
}

class ServeProcess {
 public:
  /// Starts `binary serve` with a new data directory and OS-chosen loopback ports, plus
  /// `extra_args` (e.g. {"--config", FILE} or {"--set", "query.max_k=5"}). started() tells
  /// whether it came up; log() holds its output either way.
  /// `data_dir`: the server's data directory (empty = a new one of its own); a restarted server
  /// is a new ServeProcess on the same directory.
  explicit ServeProcess(const std::string& binary, std::vector<std::string> extra_args = {},
                        bool tls = false, const std::string& data_dir = "")
      : tls_(tls) {
    std::vector<std::string> args = {binary, "serve", "--data-dir",
                                     data_dir.empty() ? dir_ / "data" : data_dir,
                                     "--http-port", "0", "--grpc-address", "127.0.0.1:0",
                                     "--set", "log_level=warn", "--set", "cache.kind=lru"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string out = out_path(), err = err_path();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return;
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec. It gets SIGTERM if the test process
      // dies without stopping it, so no server outlives a crashed test.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      // The server waits for SIGTERM with sigwait(), which needs the signal blocked, as its
      // main() arranges; start it from an empty mask whatever the test process blocked.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGTERM, SIG_DFL);  // an ignored signal would never reach sigwait()
      ::signal(SIGINT, SIG_DFL);
      const int in_fd = ::open("/dev/null", O_RDONLY);
      const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in_fd < 0 || out_fd < 0 || err_fd < 0) ::_exit(127);
      ::dup2(in_fd, 0);
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      ::execve(argv[0], argv.data(), environ);
      ::_exit(127);
    }
    pid_ = pid;
    wait_until_serving();
  }

  ~ServeProcess() {
    if (pid_ > 0) (void)stop();
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool started() const { return rest_port_ > 0 && grpc_port_ > 0; }
  int rest_port() const { return rest_port_; }
  int grpc_port() const { return grpc_port_; }
  std::string url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(rest_port_);
  }
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  /// What the server printed so far (stdout and stderr), for failure messages.
  std::string log() const { return read_text_file(out_path()) + read_text_file(err_path()); }

  /// kill -9: no shutdown, no checkpoint; what was acknowledged must survive (crash tests).
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// SIGTERM, then waits (up to 60 s, then SIGKILL). The server's exit status, -1 if it was
  /// killed by a signal or never ran.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (true) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0 || std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::string out_path() const { return dir_ / "serve.out"; }
  std::string err_path() const { return dir_ / "serve.err"; }

  // The server prints "vecstream serving: REST 127.0.0.1:PORT, gRPC ADDRESS (port PORT); ..."
  // once both listen; then /readyz must answer 200.
  void wait_until_serving() {
    static const std::regex line(
        R"(vecstream serving: REST [^ ]+:(\d+), gRPC [^ ]+ \(port (\d+)\))");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string out = read_text_file(out_path());
      if (std::regex_search(out, m, line)) {
        rest_port_ = std::stoi(m[1]);
        grpc_port_ = std::stoi(m[2]);
        break;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // it exited: bad flags, port taken...
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (rest_port_ <= 0) return;
    httplib::Client c(url());
    if (tls_) c.enable_server_certificate_verification(false);  // readiness only; tests verify
    c.set_connection_timeout(2);
    c.set_read_timeout(5);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = c.Get("/readyz");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    rest_port_ = 0;
  }

  TempDir dir_;
  bool tls_ = false;
  pid_t pid_ = -1;
  int rest_port_ = 0;
  int grpc_port_ = 0;
};

}  // namespace vecstream::testing

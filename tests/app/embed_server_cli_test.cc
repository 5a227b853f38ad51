// `vecstream embed-server` end to end: the real binary on an ephemeral loopback port, used through
// RemoteEmbedder, then stopped with SIGTERM; and its refusals of bad arguments.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "embed/hashing_embedder.h"
#include "embed/remote_embedder.h"
#include "support/temp_dir.h"

extern char** environ;

namespace vecstream {
namespace {

using namespace std::chrono_literals;

// A child process running `vecstream` with the given arguments, its stdout on a pipe and its
// stderr in a file.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& stderr_path) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    std::string bin = VECSTREAM_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  bool started() const { return pid_ > 0; }

  /// The first line of stdout, or "" when none comes within `timeout`.
  std::string read_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line.push_back(c);
    }
    return "";
  }

  /// Sends `sig`, then waits up to `timeout` for the exit; the exit code, or -1.
  int stop(int sig, std::chrono::milliseconds timeout) {
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  /// Waits for an exit that needs no signal (argument errors).
  int wait_exit() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(EmbedServerCliTest, ServesRemoteEmbedderAndStopsCleanlyOnSigterm) {
  testing::TempDir dir;
  Child child({"embed-server", "--listen", "127.0.0.1:0", "--dim", "64", "--threads", "2"}, dir / "stderr");
  ASSERT_TRUE(child.started());
  const std::string line = child.read_line(30s);
  const std::string marker = "listening on 127.0.0.1:";
  const size_t at = line.find(marker);
  ASSERT_NE(at, std::string::npos) << "stdout: '" << line << "', stderr: " << slurp(dir / "stderr");
  const int port = std::atoi(line.c_str() + at + marker.size());
  ASSERT_GT(port, 0);
  EXPECT_NE(line.find("hashing(dim=64"), std::string::npos) << line;

  RemoteEmbedder::Options o;
  o.target = "127.0.0.1:" + std::to_string(port);
  o.dim = 0;  // ask the server
  o.timeout = 10s;
  auto remote = RemoteEmbedder::create(o);
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();
  EXPECT_EQ((*remote)->dimension(), 64u);
  HashingEmbedder::Options ho;
  ho.dim = 64;
  auto local = HashingEmbedder::create(ho);
  ASSERT_TRUE(local.is_ok());
  std::vector<std::string> docs;
  for (int i = 0; i < 600; ++i) docs.push_back("document " + std::to_string(i) + " about embeddings");
  const std::vector<std::string_view> texts(docs.begin(), docs.end());
  std::vector<float> got(texts.size() * 64), want(texts.size() * 64);
  ASSERT_TRUE((*remote)->embed(texts, got).is_ok());
  ASSERT_TRUE((*local)->embed(texts, want).is_ok());
  EXPECT_EQ(got, want);
  auto bad = (*remote)->embed_one("\xff");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(child.stop(SIGTERM, 20s), 0) << slurp(dir / "stderr");
  EXPECT_NE(slurp(dir / "stderr").find("stopped cleanly"), std::string::npos);
  // Once stopped, the client reports the server as unreachable.
  auto after = (*remote)->embed_one("anyone there?");
  ASSERT_FALSE(after.is_ok());
  EXPECT_EQ(after.status().code(), StatusCode::kIoError);
}

TEST(EmbedServerCliTest, BadArgumentsExitWithAnError) {
  testing::TempDir dir;
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"embed-server", "--embedder", "bert"}, "unknown --embedder 'bert'"},
      {{"embed-server", "--embedder", "fasttext"}, "needs --model PATH"},
      {{"embed-server", "--embedder", "fasttext", "--model", dir / "missing.bin"}, "no such file"},
      {{"embed-server", "--dim", "1"}, "dim must be in [2, 16384]"},
      {{"embed-server", "--listen", "256.1.1.1:99999"}, "cannot start the server"},
  };
  for (const Case& c : cases) {
    Child child(c.args, dir / "stderr");
    ASSERT_TRUE(child.started());
    EXPECT_EQ(child.wait_exit(), 1) << c.args.back();
    EXPECT_NE(slurp(dir / "stderr").find(c.message), std::string::npos) << slurp(dir / "stderr");
  }
}

}  // namespace
}  // namespace vecstream

// `vecstream kafka-dev` end to end: the real binary as its own process, and kcat (a Kafka client
// that knows nothing of Vecstream) producing to and consuming from it over the Kafka protocol.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace vecstream {
namespace {

std::string kcat_path() {
  for (const char* p : {"/usr/bin/kcat", "/usr/local/bin/kcat", "/usr/bin/kafkacat"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Runs `vecstream kafka-dev ARGS` with stdout on a pipe; dies with the test.
class KafkaDev {
 public:
  explicit KafkaDev(std::vector<std::string> args) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<std::string> all = {VECSTREAM_BIN, "kafka-dev"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(VECSTREAM_BIN, argv.data());
      _exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }
  ~KafkaDev() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  /// stdout up to the first newline (or what came within `timeout`, or EOF).
  std::string first_line(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{out_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(out_, buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    rest_ = got.substr(std::min(got.size(), got.find('\n') + 1));
    return got.substr(0, got.find('\n'));
  }
  /// Everything else the process wrote on stdout until it closed it.
  std::string remaining_output() {
    std::string got = rest_;
    char buf[256];
    ssize_t n;
    while ((n = ::read(out_, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
    return got;
  }
  /// Sends `sig` and waits; the exit status, or -1 if it did not exit within `timeout`.
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int st = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      ::usleep(10000);
    }
    return -1;
  }
  /// Waits for a process that should exit by itself.
  int wait_exit() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string rest_;
};

std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

TEST(KafkaDevCliTest, ServesTheKafkaProtocolUntilSigterm) {
  const std::string kcat = kcat_path();
  ASSERT_FALSE(kcat.empty()) << "kcat is not installed (scripts/install-deps.sh installs it)";
  KafkaDev dev({"--brokers", "2", "--topic", "events:3", "--topic", "events.dlq"});
  const std::string bootstrap = dev.first_line();
  // One line: loopback brokers, as many as asked for.
  ASSERT_EQ(bootstrap.rfind("127.0.0.1:", 0), 0u) << "'" << bootstrap << "'";
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 1) << bootstrap;

  // The topics exist with their partition counts.
  const std::string meta = run(kcat + " -b " + bootstrap + " -L -J 2>/dev/null");
  EXPECT_NE(meta.find("\"topic\":\"events\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"topic\":\"events.dlq\""), std::string::npos) << meta;
  EXPECT_NE(run(kcat + " -b " + bootstrap + " -L -t events 2>/dev/null").find("3 partitions"),
            std::string::npos);
  EXPECT_NE(run(kcat + " -b " + bootstrap + " -L -t events.dlq 2>/dev/null").find("1 partitions"),
            std::string::npos);

  // Produce with keys to partition 2, consume them back.
  run("printf 'k1:{\"id\": 1}\\nk2:{\"id\": 2}\\n' | " + kcat + " -b " + bootstrap +
      " -P -t events -p 2 -K: 2>/dev/null");
  const std::string consumed =
      run(kcat + " -b " + bootstrap + " -C -t events -p 2 -o beginning -c 2 -e -K: -f '%k=%s@%o\\n' 2>/dev/null");
  EXPECT_EQ(consumed, "k1={\"id\": 1}@0\nk2={\"id\": 2}@1\n");

  // SIGTERM: a clean exit, nothing more on stdout.
  EXPECT_EQ(dev.stop(SIGTERM), 0);
  EXPECT_EQ(dev.remaining_output(), "");
}

TEST(KafkaDevCliTest, SigintStopsToo) {
  KafkaDev dev({"--topic", "t"});
  ASSERT_EQ(dev.first_line().rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(dev.stop(SIGINT), 0);
}

TEST(KafkaDevCliTest, BadArgumentsAreRefused) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--topic", "events:zero"}, {"--topic", "events:0"},
        {"--topic", "bad topic:2"}, {"--topic", ":3"}, {"--brokers", "0"}, {"--brokers", "99"},
        {"--unknown"}}) {
    KafkaDev dev(args);
    EXPECT_EQ(dev.first_line(std::chrono::seconds(10)), "") << args[0] << " " << (args.size() > 1 ? args[1] : "");
    const int rc = dev.wait_exit();
    EXPECT_NE(rc, 0) << args[0];
    EXPECT_LT(rc, 128) << "exited by itself, not by a signal";
  }
}

}  // namespace
}  // namespace vecstream

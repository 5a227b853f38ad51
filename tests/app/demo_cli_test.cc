// `vecstream demo`, the README's main job, run as a user runs it: the real binary, its own broker
// and server processes, the real corpora. A short run must show the stream working end to end
// (events applied, queries answered with high recall, related articles found, a clean stop with
// a checkpoint); Ctrl-C (SIGINT) must stop everything, leaving no process behind.
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "app/serve_process.h"

namespace vecstream {
namespace {

using testing::read_text_file;

// Processes whose command line mentions `needle` (the test's own directory).
std::vector<std::string> processes_mentioning(const std::string& needle) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmd = read_text_file(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmd) c = c == '\0' ? ' ' : c;
    if (cmd.find(needle) != std::string::npos) out.push_back(std::string(e->d_name) + ": " + cmd);
  }
  ::closedir(d);
  return out;
}

TEST(DemoCliTest, ShortRunShowsTheStreamEndToEnd) {
  testing::TempDir scratch;
  const std::string dir = scratch / "demo";
  auto r = testing::run_command(scratch, std::string(VECSTREAM_BIN) +
                                             " demo --duration 12 --interval 3 --images-per-s 400 "
                                             "--articles-per-s 150 --data-dir " + testing::shell_quote(dir));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // The progress table: a header and a line every 3 s.
  EXPECT_NE(r.out.find("ingest (applied)"), std::string::npos) << r.out;
  const std::regex progress(R"(\n\s+\d+s\s+[\d,]+ ev/s)");
  EXPECT_GE(std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), progress), std::sregex_iterator()), 3)
      << r.out;
  // Everything produced was applied, queries ran without errors, recall is high.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(([\d,]+) events produced, ([\d,]+) applied)"))) << r.out;
  EXPECT_EQ(m[1].str(), m[2].str()) << r.out;
  EXPECT_NE(m[1].str(), "0");
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\(p50 .*, ([\d,]+) errors\); sampled recall@10 ([\d.]+|nan))")))
      << r.out;
  EXPECT_EQ(m[1].str(), "0") << r.out;
  EXPECT_GE(std::stod(m[2].str()), 0.9) << r.out;
  // Related articles: three articles, each with answers.
  const size_t related = r.out.find("related articles");
  ASSERT_NE(related, std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out.substr(related), std::regex(R"(\n    0\.\d{3}  )"))) << r.out;
  EXPECT_NE(r.out.find("server exit 0 (checkpointed), broker exit 0"), std::string::npos) << r.out;
  // The server's logs are kept with the data, and nothing runs on after the demo.
  EXPECT_FALSE(read_text_file(dir + "/serve.log").empty());
  EXPECT_TRUE(processes_mentioning(dir).empty());
}

TEST(DemoCliTest, CtrlCStopsEverythingCleanly) {
  testing::TempDir scratch;
  const std::string dir = scratch / "demo";
  const std::string out = scratch / "out.txt";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::freopen(out.c_str(), "w", stdout);
    std::freopen((out + ".err").c_str(), "w", stderr);
    ::execl(VECSTREAM_BIN, VECSTREAM_BIN, "demo", "--duration", "0", "--interval", "1", "--images-per-s", "300",
            "--articles-per-s", "100", "--data-dir", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Until two progress lines are out (the stream runs), then Ctrl-C.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  const std::regex progress(R"(\n\s+\d+s\s+[\d,]+ ev/s)");
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = read_text_file(out);
    if (std::distance(std::sregex_iterator(text.begin(), text.end(), progress), std::sregex_iterator()) >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::string text = read_text_file(out);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 0) << text << read_text_file(out + ".err");
  EXPECT_NE(text.find("(stopped by signal)"), std::string::npos) << text;
  EXPECT_NE(text.find("server exit 0 (checkpointed), broker exit 0"), std::string::npos) << text;
  EXPECT_TRUE(processes_mentioning(dir).empty());
}

}  // namespace
}  // namespace vecstream

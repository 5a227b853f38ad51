// Structured logs: line format (golden and parsed as JSON), escaping, level filtering, the
// environment variable, and concurrent writers that never interleave lines.
#include "obs/log.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace vecstream::obs {
namespace {

using nlohmann::json;

constexpr int64_t kMay1st = 1714566896789;  // 2024-05-01T12:34:56.789Z

std::string line_of(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {}) {
  std::string out;
  format_log_line(out, kMay1st, level, msg, std::span<const LogField>(fields.begin(), fields.size()));
  return out;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) lines.push_back(line);
  return lines;
}

// A file the logger writes to, opened for appending.
class LogFile {
 public:
  LogFile() : path_(dir_ / "log.jsonl"), fd_(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644)) {}
  ~LogFile() { ::close(fd_); }
  int fd() const { return fd_; }
  std::vector<std::string> lines() const { return read_lines(path_); }

 private:
  testing::TempDir dir_;
  std::string path_;
  int fd_;
};

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(LogFormatTest, GoldenLine) {
  EXPECT_EQ(line_of(LogLevel::kInfo, "segment sealed", {{"shard", 3}, {"rows", 32768}}),
            "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"info\",\"msg\":\"segment sealed\","
            "\"shard\":3,\"rows\":32768}\n");
  EXPECT_EQ(line_of(LogLevel::kWarn, "x"), "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"warn\",\"msg\":\"x\"}\n");
  // Timestamps before the epoch and at a whole second.
  std::string out;
  format_log_line(out, -1, LogLevel::kError, "m", {});
  EXPECT_EQ(out, "{\"ts\":\"1969-12-31T23:59:59.999Z\",\"level\":\"error\",\"msg\":\"m\"}\n");
  out.clear();
  format_log_line(out, 1714566896000, LogLevel::kDebug, "m", {});
  EXPECT_EQ(out, "{\"ts\":\"2024-05-01T12:34:56.000Z\",\"level\":\"debug\",\"msg\":\"m\"}\n");
}

TEST(LogFormatTest, EveryValueTypeParsesBack) {
  std::string owned = "owned string";
  std::string line = line_of(LogLevel::kError, "all types",
                             {{"null", nullptr},
                              {"yes", true},
                              {"no", false},
                              {"neg", -42},
                              {"i64min", std::numeric_limits<int64_t>::min()},
                              {"u64max", std::numeric_limits<uint64_t>::max()},
                              {"size", size_t{7}},
                              {"pi", 3.25},
                              {"tiny", 5e-300},
                              {"f", 0.5f},
                              {"nan", std::numeric_limits<double>::quiet_NaN()},
                              {"inf", std::numeric_limits<double>::infinity()},
                              {"ninf", -std::numeric_limits<double>::infinity()},
                              {"cstr", "text"},
                              {"nullcstr", static_cast<const char*>(nullptr)},
                              {"view", std::string_view("a view")},
                              {"string", owned},
                              {"temp", std::to_string(12) + " temp"}});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  json j = json::parse(line);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["msg"], "all types");
  EXPECT_TRUE(j["null"].is_null());
  EXPECT_EQ(j["yes"], true);
  EXPECT_EQ(j["no"], false);
  EXPECT_EQ(j["neg"], -42);
  EXPECT_EQ(j["i64min"].get<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(j["u64max"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(j["size"], 7);
  EXPECT_EQ(j["pi"].get<double>(), 3.25);
  EXPECT_EQ(j["tiny"].get<double>(), 5e-300);
  EXPECT_EQ(j["f"].get<double>(), 0.5);
  EXPECT_EQ(j["nan"], "NaN");
  EXPECT_EQ(j["inf"], "Infinity");
  EXPECT_EQ(j["ninf"], "-Infinity");
  EXPECT_EQ(j["cstr"], "text");
  EXPECT_TRUE(j["nullcstr"].is_null());
  EXPECT_EQ(j["view"], "a view");
  EXPECT_EQ(j["string"], "owned string");
  EXPECT_EQ(j["temp"], "12 temp");
  // Keys keep the caller's order after ts, level, msg.
  EXPECT_LT(line.find("\"null\""), line.find("\"temp\""));
  EXPECT_LT(line.find("\"msg\""), line.find("\"null\""));
}

TEST(LogFormatTest, StringsAreEscaped) {
  std::string nasty = "quote\" backslash\\ newline\n tab\t cr\r bell\x07 nul";
  nasty += '\0';
  nasty += " unicode ✓ bad\xff\xfe end";
  std::string line = line_of(LogLevel::kInfo, nasty, {{"k\"ey\n", nasty}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever the content
  json j = json::parse(line);
  std::string expected = "quote\" backslash\\ newline\n tab\t cr\r bell\x07 nul";
  expected += '\0';
  expected += " unicode ✓ bad\xef\xbf\xbd\xef\xbf\xbd end";  // each bad byte became U+FFFD
  EXPECT_EQ(j["msg"], expected);
  EXPECT_EQ(j["k\"ey\n"], expected);
  EXPECT_NE(line.find("\\u0007"), std::string::npos);
  EXPECT_NE(line.find("\\u0000"), std::string::npos);
}

TEST(LogFormatTest, ReservedKeysAreRenamed) {
  json j = json::parse(line_of(LogLevel::kInfo, "real", {{"msg", "fake"}, {"ts", 1}, {"level", "x"}}));
  EXPECT_EQ(j["msg"], "real");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["field_msg"], "fake");
  EXPECT_EQ(j["field_ts"], 1);
  EXPECT_EQ(j["field_level"], "x");
}

TEST(LogFormatTest, LongValuesAreCut) {
  std::string big(kMaxLogValueBytes + 1000, 'a');
  big[kMaxLogValueBytes - 1] = '\xc3';  // a two-byte sequence straddling the cut
  big[kMaxLogValueBytes] = '\xa9';
  json j = json::parse(line_of(LogLevel::kInfo, big, {{"v", big}}));
  std::string msg = j["msg"];
  EXPECT_LE(msg.size(), kMaxLogValueBytes + 32);
  EXPECT_TRUE(msg.ends_with("...(truncated)"));
  EXPECT_EQ(msg.find("\xef\xbf\xbd"), std::string::npos);  // the cut did not split the sequence
  EXPECT_EQ(j["v"], j["msg"]);
}

TEST(LogLevelTest, NamesAndParsing) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::kDebug);
  EXPECT_EQ(parse_log_level("INFO"), LogLevel::kInfo);
  EXPECT_EQ(parse_log_level("Warn"), LogLevel::kWarn);
  EXPECT_EQ(parse_log_level("warning"), LogLevel::kWarn);
  EXPECT_EQ(parse_log_level("error"), LogLevel::kError);
  EXPECT_EQ(parse_log_level("off"), LogLevel::kOff);
  EXPECT_EQ(parse_log_level("verbose"), std::nullopt);
  EXPECT_EQ(parse_log_level(""), std::nullopt);
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    EXPECT_EQ(parse_log_level(log_level_name(l)), l);
  }
}

TEST(LogLevelTest, FromEnvironment) {
  {
    ScopedEnv env(kLogLevelEnv, "error");
    EXPECT_EQ(log_level_from_env(), LogLevel::kError);
  }
  {
    ScopedEnv env(kLogLevelEnv, "DEBUG");
    EXPECT_EQ(log_level_from_env(), LogLevel::kDebug);
  }
  {
    ScopedEnv env(kLogLevelEnv, "loud");
    EXPECT_EQ(log_level_from_env(), LogLevel::kInfo);
    EXPECT_EQ(log_level_from_env(LogLevel::kWarn), LogLevel::kWarn);
  }
  {
    ScopedEnv env(kLogLevelEnv, nullptr);
    EXPECT_EQ(log_level_from_env(), LogLevel::kInfo);
  }
}

TEST(LoggerTest, LevelsFilter) {
  LogFile file;
  Logger logger(file.fd(), LogLevel::kWarn);
  EXPECT_FALSE(logger.enabled(LogLevel::kInfo));
  EXPECT_TRUE(logger.enabled(LogLevel::kError));
  logger.debug("d");
  logger.info("i");
  logger.warn("w", {{"n", 1}});
  logger.error("e");
  logger.log(LogLevel::kOff, "never, whatever the threshold");
  logger.set_level(LogLevel::kDebug);
  logger.debug("d2");
  logger.set_level(LogLevel::kOff);
  logger.error("silenced");
  std::vector<std::string> lines = file.lines();
  ASSERT_EQ(lines.size(), 3u);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& l : lines) {
    json j = json::parse(l);
    got.emplace_back(j["level"], j["msg"]);
  }
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{{"warn", "w"}, {"error", "e"}, {"debug", "d2"}}));
  EXPECT_EQ(logger.dropped(), 0u);
}

TEST(LoggerTest, RealTimestampsAreRfc3339WithMilliseconds) {
  LogFile file;
  Logger logger(file.fd(), LogLevel::kDebug);
  logger.info("now");
  std::vector<std::string> lines = file.lines();
  ASSERT_EQ(lines.size(), 1u);
  std::string ts = json::parse(lines[0])["ts"];
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"))) << ts;
}

TEST(LoggerTest, RuntimeFieldsAndSpans) {
  LogFile file;
  Logger logger(file.fd());
  std::vector<LogField> fields;
  std::vector<std::string> names = {"a", "b", "c"};
  for (size_t i = 0; i < names.size(); ++i) fields.push_back({names[i], i});
  logger.log(LogLevel::kInfo, "gathered", std::span<const LogField>(fields));
  json j = json::parse(file.lines().at(0));
  EXPECT_EQ(j["a"], 0);
  EXPECT_EQ(j["c"], 2);
}

TEST(LoggerTest, WriteErrorsAreCountedNotThrown) {
  Logger logger(-1);
  logger.info("into the void");
  logger.error("again");
  EXPECT_EQ(logger.dropped(), 2u);
}

TEST(LoggerTest, DefaultLoggerWritesToItsDescriptor) {
  LogFile file;
  Logger& logger = default_logger();
  EXPECT_EQ(&logger, &default_logger());
  int old_fd = logger.fd();
  LogLevel old_level = logger.level();
  logger.set_fd(file.fd());
  logger.set_level(LogLevel::kInfo);
  log_info("segment sealed", {{"shard", 3}, {"rows", 32768}});
  log_debug("filtered out");
  log_warn("w");
  log_error("e");
  logger.set_fd(old_fd);
  logger.set_level(old_level);
  std::vector<std::string> lines = file.lines();
  ASSERT_EQ(lines.size(), 3u);
  json j = json::parse(lines[0]);
  EXPECT_EQ(j["msg"], "segment sealed");
  EXPECT_EQ(j["shard"], 3);
  EXPECT_EQ(j["rows"], 32768);
}

// Eight threads log lines of very different lengths, one in sixteen longer than PIPE_BUF (4096);
// every line read back is whole JSON, and each thread's lines all arrive, in order.
size_t pad_size(int thread, int seq) {
  return static_cast<size_t>(seq % 16 == 0 ? 4097 + (seq * 31 + thread) % 4000 : (seq * 7 + thread) % 200);
}

void hammer(Logger& logger, int threads, int per_thread) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&logger, t, per_thread] {
      for (int i = 0; i < per_thread; ++i) {
        std::string pad(pad_size(t, i), static_cast<char>('a' + t));
        logger.info("hammer", {{"thread", t}, {"seq", i}, {"pad", pad}});
      }
    });
  }
  for (auto& w : workers) w.join();
}

void check_hammered(const std::vector<std::string>& lines, int threads, int per_thread) {
  ASSERT_EQ(lines.size(), static_cast<size_t>(threads * per_thread));
  std::vector<int> next(static_cast<size_t>(threads), 0);
  for (const auto& l : lines) {
    json j = json::parse(l, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << l.substr(0, 200);
    int t = j["thread"];
    int seq = j["seq"];
    ASSERT_EQ(seq, next[static_cast<size_t>(t)]) << "thread " << t;
    ++next[static_cast<size_t>(t)];
    std::string pad = j["pad"];
    EXPECT_EQ(pad.size(), pad_size(t, seq));
    EXPECT_EQ(pad.find_first_not_of(static_cast<char>('a' + t)), std::string::npos);
  }
}

TEST(LoggerConcurrencyTest, WritersNeverInterleaveInAFile) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  LogFile file;
  Logger logger(file.fd());
  hammer(logger, kThreads, kPerThread);
  EXPECT_EQ(logger.dropped(), 0u);
  check_hammered(file.lines(), kThreads, kPerThread);
}

TEST(LoggerConcurrencyTest, WritersNeverInterleaveInAPipe) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string received;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) received.append(buf, static_cast<size_t>(n));
  });
  {
    Logger logger(fds[1]);
    hammer(logger, kThreads, kPerThread);
    EXPECT_EQ(logger.dropped(), 0u);
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  std::vector<std::string> lines;
  std::istringstream in(received);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  check_hammered(lines, kThreads, kPerThread);
}

}  // namespace
}  // namespace vecstream::obs

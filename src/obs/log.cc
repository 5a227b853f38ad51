// Structured logging: JSON line formatting and the one-write-per-line sink.
#include "obs/log.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <new>

#include "obs/text.h"

namespace vecstream::obs {

namespace {

constexpr std::string_view kTruncatedMark = "...(truncated)";
// A thread's formatting buffer is kept for its next line unless a huge line grew it past this.
constexpr size_t kKeptBufferCapacity = 64 * 1024;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

void append_capped_string(std::string& out, std::string_view s) {
  if (s.size() <= kMaxLogValueBytes) {
    internal::append_json_string(out, s);
    return;
  }
  // Cut on a UTF-8 boundary (never inside a sequence), then mark the cut.
  size_t cut = kMaxLogValueBytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string capped(s.substr(0, cut));
  capped += kTruncatedMark;
  internal::append_json_string(out, capped);
}

void append_value(std::string& out, const LogValue& value) {
  struct Visitor {
    std::string& out;
    void operator()(std::nullptr_t) const { out += "null"; }
    void operator()(bool v) const { out += v ? "true" : "false"; }
    void operator()(int64_t v) const {
      char buf[24];
      int n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
      out.append(buf, static_cast<size_t>(n));
    }
    void operator()(uint64_t v) const { internal::append_uint(out, v); }
    void operator()(double v) const {
      if (std::isnan(v)) {
        out += "\"NaN\"";
      } else if (std::isinf(v)) {
        out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      } else {
        internal::append_double(out, v);  // shortest round-trip form, valid JSON for finite values
      }
    }
    void operator()(std::string_view v) const { append_capped_string(out, v); }
  };
  std::visit(Visitor{out}, value.variant());
}

void append_timestamp(std::string& out, int64_t unix_ms) {
  time_t seconds = static_cast<time_t>(unix_ms / 1000);
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    --seconds;
  }
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  if (n > 0) out.append(buf, static_cast<size_t>(n));
}

int64_t now_unix_ms() noexcept {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

std::string_view log_level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "info";
}

std::optional<LogLevel> parse_log_level(std::string_view text) noexcept {
  if (iequals(text, "debug")) return LogLevel::kDebug;
  if (iequals(text, "info")) return LogLevel::kInfo;
  if (iequals(text, "warn") || iequals(text, "warning")) return LogLevel::kWarn;
  if (iequals(text, "error")) return LogLevel::kError;
  if (iequals(text, "off") || iequals(text, "none")) return LogLevel::kOff;
  return std::nullopt;
}

LogLevel log_level_from_env(LogLevel fallback) noexcept {
  const char* value = std::getenv(kLogLevelEnv);
  if (value == nullptr) return fallback;
  return parse_log_level(value).value_or(fallback);
}

void format_log_line(std::string& out, int64_t unix_ms, LogLevel level, std::string_view message,
                     std::span<const LogField> fields) {
  out += "{\"ts\":\"";
  append_timestamp(out, unix_ms);
  out += "\",\"level\":\"";
  out += log_level_name(level);
  out += "\",\"msg\":";
  append_capped_string(out, message);
  for (const LogField& f : fields) {
    out += ',';
    if (f.key == "ts" || f.key == "level" || f.key == "msg") {
      std::string renamed = "field_";
      renamed += f.key;
      internal::append_json_string(out, renamed);
    } else {
      internal::append_json_string(out, f.key);
    }
    out += ':';
    append_value(out, f.value);
  }
  out += "}\n";
}

void Logger::write_line(LogLevel level, std::string_view message, std::span<const LogField> fields) noexcept {
  thread_local std::string line;
  try {
    line.clear();
    format_log_line(line, now_unix_ms(), level, message, fields);
  } catch (...) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    line = std::string();
    return;
  }
  bool failed = false;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    int fd = fd_.load(std::memory_order_relaxed);
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        failed = true;
        break;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (failed) dropped_.fetch_add(1, std::memory_order_relaxed);
  if (line.capacity() > kKeptBufferCapacity) line = std::string();
}

Logger& default_logger() noexcept {
  static Logger* logger = [] {
    LogLevel level = log_level_from_env(LogLevel::kInfo);
    auto* l = new (std::nothrow) Logger(STDERR_FILENO, level);
    if (l == nullptr) std::abort();  // out of memory before main: nothing sensible is left
    const char* value = std::getenv(kLogLevelEnv);
    if (value != nullptr && *value != '\0' && !parse_log_level(value)) {
      l->warn("unknown log level in environment; using info", {{"variable", kLogLevelEnv}, {"value", value}});
    }
    return l;
  }();
  return *logger;
}

}  // namespace vecstream::obs

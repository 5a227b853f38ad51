// Structured logging: one JSON object per line, written with one write(2) per line.
//
//   log_info("segment sealed", {{"shard", 3}, {"rows", 32768}});
//   {"ts":"2024-05-01T12:34:56.789Z","level":"info","msg":"segment sealed","shard":3,"rows":32768}
//
// Every line carries "ts" (RFC 3339, UTC, milliseconds), "level" (debug/info/warn/error) and
// "msg", then the caller's fields in the order given. A field named ts, level or msg is written as
// field_ts, field_level, field_msg so that keys stay unique. Strings are escaped as JSON, bytes
// that are not UTF-8 become U+FFFD, NaN and infinities are written as the strings "NaN",
// "Infinity" and "-Infinity", so every line parses as JSON. The message and each string value are
// cut at kMaxLogValueBytes.
//
// Lines below the logger's level cost one atomic load. The default logger writes to stderr at the
// level named by the environment variable VECSTREAM_LOG_LEVEL (debug, info, warn, error, off;
// info when unset). Logging never throws: a line that cannot be formatted or written is dropped
// and counted.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace vecstream::obs {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

/// The environment variable that sets the default logger's level.
inline constexpr const char* kLogLevelEnv = "VECSTREAM_LOG_LEVEL";
/// The longest message or string value written; longer ones are cut and marked "...(truncated)".
inline constexpr size_t kMaxLogValueBytes = 16 * 1024;

/// "debug", "info", "warn", "error", "off".
std::string_view log_level_name(LogLevel level) noexcept;
/// Parses a level name, case-insensitively; also accepts "warning" and "none".
std::optional<LogLevel> parse_log_level(std::string_view text) noexcept;
/// The level named by VECSTREAM_LOG_LEVEL, or `fallback` when it is unset, empty or unknown.
LogLevel log_level_from_env(LogLevel fallback = LogLevel::kInfo) noexcept;

/// One value of a log field: null, bool, integer, floating point or string. Strings are views:
/// a LogValue lives for one logging call, during which what it points to must stay alive (a
/// temporary std::string in the call's argument list does).
class LogValue {
 public:
  LogValue(std::nullptr_t) noexcept : v_(nullptr) {}  // NOLINT: implicit by design
  template <std::integral T>
  LogValue(T v) noexcept {  // NOLINT
    if constexpr (std::is_same_v<T, bool>) {
      v_ = v;
    } else if constexpr (std::is_signed_v<T>) {
      v_ = static_cast<int64_t>(v);
    } else {
      v_ = static_cast<uint64_t>(v);
    }
  }
  template <std::floating_point T>
  LogValue(T v) noexcept : v_(static_cast<double>(v)) {}  // NOLINT
  LogValue(const char* s) noexcept {  // NOLINT
    if (s == nullptr) {
      v_ = nullptr;
    } else {
      v_ = std::string_view(s);
    }
  }
  LogValue(std::string_view s) noexcept : v_(s) {}                // NOLINT
  LogValue(const std::string& s) noexcept : v_(std::string_view(s)) {}  // NOLINT

  using Variant = std::variant<std::nullptr_t, bool, int64_t, uint64_t, double, std::string_view>;
  const Variant& variant() const noexcept { return v_; }

 private:
  Variant v_;
};

/// A key and its value: {"shard", 3}.
struct LogField {
  std::string_view key;
  LogValue value;
};

/// Writes JSON lines to a file descriptor.
///
/// Thread safety: every method may be called from any thread. Each line is formatted on the
/// calling thread and written by one write(2) under a mutex (a short write to a pipe or a
/// terminal is finished before the next line starts), so lines never interleave.
class Logger {
 public:
  /// Writes to `fd`, which the logger does not own, the lines at or above `level`.
  explicit Logger(int fd, LogLevel level = LogLevel::kInfo) noexcept : fd_(fd), level_(static_cast<int>(level)) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void set_level(LogLevel level) noexcept { level_.store(static_cast<int>(level), std::memory_order_relaxed); }
  LogLevel level() const noexcept { return static_cast<LogLevel>(level_.load(std::memory_order_relaxed)); }
  bool enabled(LogLevel level) const noexcept {
    return level != LogLevel::kOff && static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
  }
  /// Sends later lines to `fd`. A line already being written finishes on the old descriptor, so
  /// the caller keeps that one open until logging calls that began before this one have returned.
  void set_fd(int fd) noexcept { fd_.store(fd, std::memory_order_relaxed); }
  int fd() const noexcept { return fd_.load(std::memory_order_relaxed); }

  void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
    if (enabled(level)) write_line(level, message, std::span<const LogField>(fields.begin(), fields.size()));
  }
  /// For fields gathered at run time.
  void log(LogLevel level, std::string_view message, std::span<const LogField> fields) noexcept {
    if (enabled(level)) write_line(level, message, fields);
  }
  void debug(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
    log(LogLevel::kDebug, message, fields);
  }
  void info(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
    log(LogLevel::kInfo, message, fields);
  }
  void warn(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
    log(LogLevel::kWarn, message, fields);
  }
  void error(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
    log(LogLevel::kError, message, fields);
  }

  /// Lines lost because they could not be formatted (memory) or written (a write error).
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  void write_line(LogLevel level, std::string_view message, std::span<const LogField> fields) noexcept;

  std::atomic<int> fd_;
  std::atomic<int> level_;
  std::atomic<uint64_t> dropped_{0};
  std::mutex write_mu_;
};

/// Formats one line, newline included, as Logger writes it; `unix_ms` is the timestamp in
/// milliseconds since the epoch. Exposed for tests and for callers that ship lines elsewhere.
/// May throw std::bad_alloc.
void format_log_line(std::string& out, int64_t unix_ms, LogLevel level, std::string_view message,
                     std::span<const LogField> fields);

/// The process's logger: stderr, level from VECSTREAM_LOG_LEVEL read on first use (an unknown
/// value is reported with a warning line, then info applies). Never destroyed, so threads may
/// log during exit.
Logger& default_logger() noexcept;

inline void log_debug(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
  default_logger().log(LogLevel::kDebug, message, fields);
}
inline void log_info(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
  default_logger().log(LogLevel::kInfo, message, fields);
}
inline void log_warn(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
  default_logger().log(LogLevel::kWarn, message, fields);
}
inline void log_error(std::string_view message, std::initializer_list<LogField> fields = {}) noexcept {
  default_logger().log(LogLevel::kError, message, fields);
}

}  // namespace vecstream::obs

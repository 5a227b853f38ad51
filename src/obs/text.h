// Text helpers shared by the Prometheus exposition (metrics.cc) and the JSON log lines (log.cc):
// UTF-8 checks, number formatting and the two escaping rules. Internal to obs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vecstream::obs::internal {

/// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// Formats a double as Prometheus' Go clients write it (strconv 'g' with shortest precision):
/// the fewest digits that read back to the same double, in exponent form below 1e-4 and from 1e6
/// ("0.0001", "5e-05", "42", "123456", "1e+06"), and "NaN", "+Inf", "-Inf". `buf` needs 32 bytes;
/// the returned view points into it (or is a literal).
std::string_view format_double(char* buf, size_t size, double v) noexcept;
void append_double(std::string& out, double v);
void append_uint(std::string& out, uint64_t v);

/// Label values in the text format: backslash, double quote and line feed become \\, \" and \n.
void append_escaped_label_value(std::string& out, std::string_view value);
/// HELP text in the text format: backslash and line feed become \\ and \n.
void append_escaped_help(std::string& out, std::string_view help);

/// A JSON string literal, quotes included. Control characters are escaped; bytes that are not
/// UTF-8 become U+FFFD, so the result is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace vecstream::obs::internal

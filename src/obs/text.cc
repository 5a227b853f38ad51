// Text helpers for the exposition format and JSON log lines.
#include "obs/text.h"

#include <charconv>
#include <cmath>

namespace vecstream::obs::internal {

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 if it is not one
// (Unicode Table 3-7).
size_t utf8_sequence_length(std::string_view s) noexcept {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  while (!s.empty()) {
    size_t n = utf8_sequence_length(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string_view format_double(char* buf, size_t size, double v) noexcept {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // The shortest digits that read back to v, in scientific form: "-1.2345e-05".
  char sci[32];
  auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  if (r.ec != std::errc() || size < 32) return "NaN";  // cannot happen with 32 bytes
  std::string_view text(sci, static_cast<size_t>(r.ptr - sci));
  size_t e = text.find('e');
  bool negative = text[0] == '-';
  char digits[24];
  size_t nd = 0;
  for (char c : text.substr(negative ? 1 : 0, e - (negative ? 1 : 0))) {
    if (c != '.') digits[nd++] = c;
  }
  int exp = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(), exp);

  // Laid out as Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' own clients use, so
  // that bucket labels read as in any Go exporter (le="0.0001", not "1e-04"; PromQL matches le
  // as a string): exponent form when the decimal exponent is below -4 or at least 6, with at
  // least two exponent digits; plain decimal otherwise.
  char* out = buf;
  if (negative) *out++ = '-';
  if (exp < -4 || exp >= 6) {
    *out++ = digits[0];
    if (nd > 1) {
      *out++ = '.';
      for (size_t i = 1; i < nd; ++i) *out++ = digits[i];
    }
    *out++ = 'e';
    *out++ = exp < 0 ? '-' : '+';
    int a = exp < 0 ? -exp : exp;
    if (a < 10) *out++ = '0';
    out = std::to_chars(out, buf + size, a).ptr;
  } else if (exp < 0) {
    *out++ = '0';
    *out++ = '.';
    for (int i = -1; i > exp; --i) *out++ = '0';
    for (size_t i = 0; i < nd; ++i) *out++ = digits[i];
  } else {
    size_t int_digits = static_cast<size_t>(exp) + 1;
    for (size_t i = 0; i < int_digits; ++i) *out++ = i < nd ? digits[i] : '0';
    if (nd > int_digits) {
      *out++ = '.';
      for (size_t i = int_digits; i < nd; ++i) *out++ = digits[i];
    }
  }
  return std::string_view(buf, static_cast<size_t>(out - buf));
}

void append_double(std::string& out, double v) {
  char buf[32];
  out += format_double(buf, sizeof buf, v);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  while (!s.empty()) {
    size_t n = utf8_sequence_length(s);
    if (n == 0) {
      out += "\\ufffd";
      s.remove_prefix(1);
      continue;
    }
    if (n > 1) {
      out.append(s.data(), n);
      s.remove_prefix(n);
      continue;
    }
    char c = s[0];
    s.remove_prefix(1);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace vecstream::obs::internal

// PointId: the external id of a point, an unsigned 64-bit number or a string (1..256 bytes), as
// users give it. Numbers and strings are distinct ids: 7 and "7" are two points. Hashable, so it
// keys the shard's id map; the shard a write goes to is shard_of(id) = hash % shards, stable
// across runs and machines (it must be: it decides which WAL holds the point).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace vecstream {

class PointId {
 public:
  static constexpr size_t kMaxStringBytes = 256;

  PointId() = default;
  static PointId number(uint64_t n) { PointId p; p.num_ = n; return p; }
  /// Checked: empty or longer than kMaxStringBytes -> INVALID_ARGUMENT.
  static Result<PointId> string(std::string s);
  /// A JSON number (non-negative integer) or string.
  static Result<PointId> from_json(const nlohmann::json& j);

  bool is_string() const { return is_string_; }
  uint64_t num() const { return num_; }
  const std::string& str() const { return str_; }

  nlohmann::json to_json() const;
  /// For messages: 42 or "abc".
  std::string to_string() const;
  /// Stable 64-bit hash (FNV-1a over a tagged encoding); shard routing uses it.
  uint64_t stable_hash() const;

  bool operator==(const PointId& o) const {
    return is_string_ == o.is_string_ && num_ == o.num_ && str_ == o.str_;
  }

 private:
  bool is_string_ = false;
  uint64_t num_ = 0;
  std::string str_;
};

struct PointIdHash {
  size_t operator()(const PointId& p) const { return static_cast<size_t>(p.stable_hash()); }
};

}  // namespace vecstream

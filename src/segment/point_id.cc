#include "segment/point_id.h"

#include <nlohmann/json.hpp>

namespace vecstream {

Result<PointId> PointId::string(std::string s) {
  if (s.empty()) return Status::invalid_argument("id: empty string");
  if (s.size() > kMaxStringBytes) {
    return Status::invalid_argument("id: string of " + std::to_string(s.size()) +
                                    " bytes; at most " + std::to_string(kMaxStringBytes));
  }
  PointId p;
  p.is_string_ = true;
  p.str_ = std::move(s);
  return p;
}

Result<PointId> PointId::from_json(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return number(j.get<uint64_t>());
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v < 0) return Status::invalid_argument("id: negative number " + std::to_string(v));
    return number(static_cast<uint64_t>(v));
  }
  if (j.is_string()) return string(j.get<std::string>());
  return Status::invalid_argument(std::string("id: must be a non-negative integer or a string, got ") +
                                  j.type_name());
}

nlohmann::json PointId::to_json() const {
  if (is_string_) return nlohmann::json(str_);
  return nlohmann::json(num_);
}

std::string PointId::to_string() const {
  if (is_string_) return "\"" + str_ + "\"";
  return std::to_string(num_);
}

uint64_t PointId::stable_hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  mix(is_string_ ? 1 : 0);
  if (is_string_) {
    for (char c : str_) mix(static_cast<uint8_t>(c));
  } else {
    for (int i = 0; i < 8; ++i) mix(static_cast<uint8_t>(num_ >> (8 * i)));
  }
  // Final avalanche (splitmix64) so that "% shards" uses every bit.
  h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27; h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

}  // namespace vecstream

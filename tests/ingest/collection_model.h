// CollectionModel: what a collection must hold after a stream of events — each id's final point,
// or none — and the check that a collection holds exactly that (every point with its exact vector
// and payload, no deleted point, no extra or duplicated point). Plus the deterministic vectors and
// their JSON that the ingest tests produce.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "segment/collection.h"

namespace vecstream::testing {

class CollectionModel {
 public:
  struct Point {
    std::vector<float> vector;
    nlohmann::json payload;
  };

  void upsert(const PointId& id, std::vector<float> v, nlohmann::json payload) {
    points_[id.to_string()] = {id, Point{std::move(v), std::move(payload)}};
  }
  void remove(const PointId& id) { points_[id.to_string()] = {id, std::nullopt}; }
  size_t live() const {
    size_t n = 0;
    for (const auto& [k, v] : points_) n += v.second.has_value();
    return n;
  }

  /// Adds a test failure for each difference (the first few named).
  void expect_matches(const Collection& c) const {
    size_t mismatches = 0;
    for (const auto& [key, entry] : points_) {
      auto got = c.get(entry.first);
      if (entry.second.has_value()) {
        if (!got || got->vector != entry.second->vector || got->payload != entry.second->payload) {
          if (++mismatches <= 5) ADD_FAILURE() << "point " << key << (got ? " differs" : " missing");
        }
      } else if (got) {
        if (++mismatches <= 5) ADD_FAILURE() << "point " << key << " should be deleted";
      }
    }
    EXPECT_EQ(mismatches, 0u);
    EXPECT_EQ(c.stats().live, live()) << "extra or duplicated points";
  }

 private:
  std::map<std::string, std::pair<PointId, std::optional<Point>>> points_;
};

inline std::vector<float> vector_for(uint64_t seed, size_t dim) {
  std::mt19937_64 g(seed * 7919 + 13);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(dim);
  for (auto& x : v) x = u(g);
  return v;
}

/// Floats printed with enough digits to parse back to the same float.
inline std::string vector_json(const std::vector<float>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(v[i]));
    s += (i ? "," : "");
    s += buf;
  }
  return s + "]";
}

}  // namespace vecstream::testing

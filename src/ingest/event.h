// Event: one decoded stream event, whatever its wire format (JSON or Protobuf, which carry the same
// fields). Decoders produce it; the Kafka source turns it into a shard write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "segment/point_id.h"

namespace vecstream {

enum class EventOp : uint8_t { kUpsert, kDelete };

struct Event {
  EventOp op = EventOp::kUpsert;
  PointId id;
  std::optional<std::vector<float>> vector;  // upserts: the vector, or ...
  std::optional<std::string> text;           // ... text for the embedding stage
  nlohmann::json payload;                    // null = none; otherwise an object
  int64_t ts_ms = -1;                        // event time (epoch ms); -1 = not given
};

}  // namespace vecstream

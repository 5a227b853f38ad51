// WriteBatch: one shard mutation as it travels through the WAL — a batch of upserts or of
// deletes, plus the source position (Kafka topic/partition and offset) it came from, if any.
//
// Encoding (little-endian), the payload of one WAL record (storage/wal.h frames and checksums it):
//
//   u8 version (1) | u8 op (1 upsert, 2 delete) | u16 source_len | source bytes | i64 offset
//   | u32 dim | u32 count | count x point
//   point = u8 id_tag (0 number, 1 string) | u64 number  or  u16 len + bytes
//           [upsert only] dim x f32 vector | u32 payload_len | payload (CBOR; 0 = no payload)
//
// A batch is applied all-or-nothing: it is validated before it is logged, and on replay it is
// decoded completely before any point is applied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "segment/point_id.h"

namespace vecstream {

/// Where a write came from, for exactly-once ingestion: the shard remembers the last offset it
/// applied per source (e.g. "events/3" for topic events, partition 3).
struct SourcePosition {
  std::string source;
  int64_t offset = -1;
};

struct PointWrite {
  PointId id;
  std::vector<float> vector;
  nlohmann::json payload;  // null = none; otherwise an object
};

enum class WriteOp : uint8_t { kUpsert = 1, kDelete = 2 };

struct WriteBatch {
  WriteOp op = WriteOp::kUpsert;
  SourcePosition source;           // source.source empty = an API write
  std::vector<PointWrite> points;  // deletes use only the ids
};

/// Appends the encoding of `b` (vectors of `dim` floats) to `out`.
void encode_write_batch(const WriteBatch& b, size_t dim, std::vector<uint8_t>* out);
/// Decodes a whole record; CORRUPTION on any inconsistency (never a partial batch).
Result<WriteBatch> decode_write_batch(std::span<const uint8_t> bytes, size_t dim);

}  // namespace vecstream

// rest_codec: the JSON side of the REST server — request bodies into Service requests, Service
// answers into response bodies. Kept apart from rest_server.cc (sockets, routing, auth) so that
// the wire format has one home and can be read (and tested) without a server.
//
// Parsing is strict: every problem is INVALID_ARGUMENT naming the JSON path where it was found
// ("points[3].vector[7]: expected a number, got string"), unknown fields are rejected by name, and
// nothing throws past these functions. Vectors are read element by element from the parsed
// document with type checks (no exception per element); each value must be finite and fit a
// 32-bit float.
//
// Responses carry floats in their shortest round-trip form (std::to_chars), so a float 0.1 is
// written as 0.1, not as the 17 digits of its double.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/metric.h"
#include "core/status.h"
#include "segment/payload_filter.h"
#include "segment/point_id.h"
#include "segment/shard.h"
#include "segment/write_batch.h"
#include "serve/service.h"

namespace vecstream {

/// Parses a request body. Empty or malformed text is INVALID_ARGUMENT with the parser's position.
Result<nlohmann::json> parse_json_body(std::string_view body);

/// {"points":[{"id": 1 | "s", "vector":[...], "payload":{...} | null}, ...]}
Result<std::vector<PointWrite>> parse_upsert_body(const nlohmann::json& body);

/// {"ids":[...]} or {"filter":{...}}: exactly one of the two.
struct DeleteRequest {
  std::vector<PointId> ids;
  std::optional<PayloadFilter> filter;
};
Result<DeleteRequest> parse_delete_body(const nlohmann::json& body);

/// One query: {"vector":[...], "k", "filter", "ef", "nprobe", "rerank_factor", "exact",
/// "with_payload", "with_vector", "use_cache", "streaming"}. `where` prefixes messages
/// ("" for a single search, "queries[2]" in a batch).
Result<SearchRequest> parse_search_body(const nlohmann::json& body, const std::string& collection,
                                        const std::string& where = "");
/// The same, straight from the body text for the common shape: a JSON object of known fields,
/// each at most once, with "vector" (no "text", no "filter"), every value of its expected type
/// and range. Numbers go through simdjson's float parser, several times cheaper than the strtod
/// under nlohmann's (which was most of the cost of reading a search body). Anything else,
/// including every malformed body, gives nullopt: the caller then parses the body with
/// parse_json_body + parse_search_body, which accept or reject it with the precise error. So
/// the answer to any body is exactly what the general path gives. Bodies over 1 MiB go the
/// general way too (the per-thread parser keeps buffers as large as its largest document).
std::optional<SearchRequest> parse_search_body_fast(std::string_view body,
                                                    const std::string& collection);

/// {"queries":[{...}, ...]}
Result<std::vector<SearchRequest>> parse_search_batch_body(const nlohmann::json& body,
                                                           const std::string& collection);

/// A point id from a URL path segment (already percent-decoded). id_type "" (auto: all digits and
/// fitting 64 bits is a number, anything else a string), "number" or "string".
Result<PointId> parse_path_id(std::string_view segment, std::string_view id_type);

/// {"points":[{"id","score","distance","payload"?,"vector"?}], "server_seconds", "cached"};
/// payload and vector appear when the request asked for them.
void append_search_response(const SearchResponse& r, Metric metric, bool with_payload,
                            bool with_vector, std::string* out);
std::string encode_search_response(const SearchResponse& r, Metric metric, bool with_payload,
                                   bool with_vector);
/// {"id", "vector", "payload"}
std::string encode_point(const PointRecord& p);
/// {"seq", "applied"}
std::string encode_ack(const WriteAck& a);

}  // namespace vecstream

// PayloadFilter: a compiled predicate over the JSON payloads that points carry in a segment.
//
// A filter arrives as JSON (from the HTTP/gRPC servers or a client library) and is evaluated
// once per candidate point inside filtered search, so it is compiled once and then only read:
// parse() validates the whole tree, reports the first problem with its JSON path, and flattens
// the tree into one vector of nodes; matches() walks that vector without allocating.
//
// Filter syntax. Every node is a JSON object with exactly one operator:
//
//   {"field": "color", "eq": "red"}                     equality; the value is a string, number,
//                                                       bool or null
//   {"field": "tags", "in": ["a", "b", 3]}              membership in a list of such values
//                                                       (an empty list matches nothing)
//   {"field": "price", "range": {"gte": 1, "lt": 10.5}} numeric range: any of gt, gte, lt, lte,
//                                                       at least one; all given bounds must hold
//   {"field": "a.b", "exists": true}                    the key is present (any value, null
//                                                       included); false: it is absent
//   {"and": [f, ...]}  {"or": [f, ...]}  {"not": f}     combinators; and/or need >= 1 child
//
// Semantics, chosen to follow Qdrant:
//   * A field path splits on '.' into object keys ("a.b" is payload["a"]["b"]). Keys that
//     contain a dot cannot be addressed. Paths only descend through objects: an array in the
//     middle of a path ends it (the field is missing).
//   * If the value at the path is an array, eq/in/range match when ANY element matches on its
//     own (nested arrays and objects inside it never match).
//   * Numbers compare by mathematical value, exactly: 3 == 3.0, and int64, uint64 and double
//     values are compared without rounding (2^64-1 != 2^64-2 even though both round to the
//     same double). Booleans are not numbers (true != 1). Strings compare byte for byte.
//   * A missing field, a type mismatch, or a NaN payload value never matches; evaluation never
//     fails. A payload that is null or not an object has no fields, so only filters that need no
//     field (exists:false, not(...)) can match it. Contradictory ranges (lt < gt) are accepted
//     and match nothing.
//
// Limits (each an INVALID_ARGUMENT): nesting depth <= kMaxDepth nodes from the root to the
// deepest leaf, total nodes <= kMaxNodes, `in` lists <= kMaxInValues values, field paths
// <= kMaxFieldBytes bytes, filter text <= kMaxTextBytes. Numbers in a filter must be finite and
// strings valid UTF-8 (so that to_string() always round-trips).
//
// Memory layout: nodes_ holds the tree in preorder; a node's first child is the next node and
// each node records the index one past its subtree, so children are walked by skipping
// subtrees (no child-index arrays). Field paths are pre-split into path_segments_; eq and in
// both compile to a ValueSet: null/false/true flags plus a sorted, deduplicated slice of numbers_
// and of strings_, searched by binary search.
//
// Thread-safety: a PayloadFilter is immutable once parsed; every const method may be called
// from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace vecstream {

class PayloadFilter {
 public:
  static constexpr size_t kMaxDepth = 32;
  static constexpr size_t kMaxNodes = 1024;
  static constexpr size_t kMaxInValues = 4096;
  static constexpr size_t kMaxFieldBytes = 256;
  static constexpr size_t kMaxTextBytes = size_t{1} << 20;

  /// Compiles a filter given as a parsed JSON value. INVALID_ARGUMENT names the JSON path of the
  /// first problem found, e.g. "filter.and[2].range: needs at least one of gt/gte/lt/lte".
  /// Never throws.
  static Result<PayloadFilter> parse(const nlohmann::json& j);
  /// Parses `json_text` (at most kMaxTextBytes) and compiles it. Malformed JSON is
  /// INVALID_ARGUMENT with the parser's position. Never throws.
  static Result<PayloadFilter> parse(std::string_view json_text);
  /// Same as parse(std::string_view). nlohmann::json converts implicitly from strings, so a
  /// literal or a std::string would otherwise match both overloads above.
  static Result<PayloadFilter> parse(const char* json_text) {
    return parse(std::string_view(json_text));
  }
  static Result<PayloadFilter> parse(const std::string& json_text) {
    return parse(std::string_view(json_text));
  }

  /// True when `payload` (an object; null or any non-object means "no payload") satisfies the
  /// filter. Allocates nothing. Cost: O(nodes x (path length + log of value-set size)), times
  /// the array length for array-valued fields.
  bool matches(const nlohmann::json& payload) const noexcept;

  /// Canonical compact JSON: object keys sorted, integral numbers written as integers, `in`
  /// lists sorted and deduplicated; and/or children keep their order. Filters that differ only in
  /// spelling (key order, whitespace, 3 vs 3.0, order or repeats in an `in` list) give the same
  /// string, so it serves as a cache key; parse(to_string()) gives back the same filter.
  std::string to_string() const { return canonical_; }

  /// Number of nodes (conditions and combinators) in the compiled tree.
  size_t node_count() const { return nodes_.size(); }

  /// Fraction of rows in [0, n) that match, over a deterministic sample of at most `sample`
  /// rows (stratified: one row drawn per equal slice of [0, n), jittered by `seed`). When
  /// n <= sample every row is evaluated and the answer is exact. payload_at(i) returns row i's
  /// payload, or nullptr for a row without one. n == 0 or sample == 0 gives 0.0.
  double estimate_selectivity(const std::function<const nlohmann::json*(size_t)>& payload_at,
                              size_t n, size_t sample = 256, uint64_t seed = 1) const;

 private:
  enum class Op : uint8_t { kEq, kIn, kRange, kExists, kAnd, kOr, kNot };

  // A finite number. Non-negative integers are kept as kUnsigned and negative ones as kSigned,
  // so each integer has exactly one representation; integral doubles in the integer range are
  // folded into those two kinds at parse time.
  struct Number {
    enum class Kind : uint8_t { kSigned, kUnsigned, kDouble };
    Kind kind = Kind::kUnsigned;
    union {
      int64_t i;
      uint64_t u = 0;
      double d;
    };
  };

  // Values an eq/in node accepts; numbers and strings are [begin, begin + count) slices of
  // numbers_ and strings_, sorted and deduplicated.
  struct ValueSet {
    bool has_null = false;
    bool has_false = false;
    bool has_true = false;
    uint32_t numbers_begin = 0;
    uint32_t numbers_count = 0;
    uint32_t strings_begin = 0;
    uint32_t strings_count = 0;
  };

  struct RangeBounds {
    enum : uint8_t { kGt = 1, kGte = 2, kLt = 4, kLte = 8 };
    uint8_t present = 0;
    Number gt, gte, lt, lte;
  };

  struct Node {
    Op op = Op::kAnd;
    bool exists = true;         // kExists: the wanted presence
    uint32_t subtree_end = 0;   // index one past this node's subtree
    uint32_t path_begin = 0;    // leaves: path_segments_[path_begin, path_begin + path_count)
    uint32_t path_count = 0;
    uint32_t operand = 0;       // kEq/kIn: index into value_sets_; kRange: into ranges_
  };

  class Compiler;

  PayloadFilter() = default;

  /// Exact three-way comparison of the mathematical values (-1, 0, 1).
  static int compare(const Number& a, const Number& b) noexcept;
  /// A payload value as a Number; false for non-numbers and NaN.
  static bool number_of(const nlohmann::json& v, Number* out) noexcept;

  bool eval(uint32_t node, const nlohmann::json& payload) const noexcept;
  const nlohmann::json* resolve(const Node& n, const nlohmann::json& payload) const noexcept;
  bool value_in_set(const ValueSet& set, const nlohmann::json& v) const noexcept;
  static bool value_in_range(const RangeBounds& r, const nlohmann::json& v) noexcept;

  std::vector<Node> nodes_;
  std::vector<std::string> path_segments_;
  std::vector<ValueSet> value_sets_;
  std::vector<Number> numbers_;
  std::vector<std::string> strings_;
  std::vector<RangeBounds> ranges_;
  std::string canonical_;
};

}  // namespace vecstream

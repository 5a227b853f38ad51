// The search body's fast path against the general one: whatever the fast path accepts, the
// general path (nlohmann + parse_search_body) accepts too, with the same request; whatever the
// general path rejects, the fast path leaves to it. Checked on hand-picked bodies and on many
// random mutations of valid ones.
#include "serve/rest_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace vecstream {
namespace {

Result<SearchRequest> general(std::string_view body) {
  auto j = parse_json_body(body);
  if (!j.is_ok()) return j.status();
  return parse_search_body(*j, "c");
}

void expect_same(const SearchRequest& a, const SearchRequest& b) {
  EXPECT_EQ(a.collection, b.collection);
  ASSERT_EQ(a.vector.size(), b.vector.size());
  for (size_t i = 0; i < a.vector.size(); ++i) {
    // Bitwise equal, except that -0 and 0 may differ in sign (equal distances).
    EXPECT_EQ(a.vector[i], b.vector[i]) << i;
  }
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.filter.has_value(), b.filter.has_value());
  EXPECT_EQ(a.ef, b.ef);
  EXPECT_EQ(a.nprobe, b.nprobe);
  EXPECT_EQ(a.rerank_factor, b.rerank_factor);
  EXPECT_EQ(a.exact, b.exact);
  EXPECT_EQ(a.with_payload, b.with_payload);
  EXPECT_EQ(a.with_vector, b.with_vector);
  EXPECT_EQ(a.use_cache, b.use_cache);
  EXPECT_EQ(a.streaming, b.streaming);
}

// The contract, on one body: fast accepts => general accepts the same request.
void check(const std::string& body) {
  SCOPED_TRACE(body);
  const auto fast = parse_search_body_fast(body, "c");
  if (!fast) return;
  const auto slow = general(body);
  ASSERT_TRUE(slow.is_ok()) << "fast path accepted what the general path refuses: "
                            << slow.status().to_string();
  expect_same(*fast, *slow);
}

TEST(RestCodecTest, FastPathTakesTheCommonBodies) {
  const std::string bodies[] = {
      R"({"vector":[0.5,-1.25,3e-3,7,1e10],"k":10,"ef":64,"use_cache":false})",
      R"({"vector":[1,2,3]})",
      R"(  {"k":3, "vector":[ 0.1 , 0.2 ],"nprobe":8,"rerank_factor":2.5,"exact":true,
          "with_payload":true,"with_vector":false,"streaming":true}  )",
      R"({"vector":[3.4028234663852886e38,-3.4028234663852886e38,1.17549435e-38,5e-324]})",
      R"({"vector":[],"k":1})",
      R"({"vec\u0074or":[1,2],"k":18446744073709551615})",
      R"({"vector":[0.30000000000000004,0.1,0.2,123456789012345678]})",
  };
  for (const std::string& b : bodies) {
    EXPECT_TRUE(parse_search_body_fast(b, "c").has_value()) << b;
    check(b);
  }
  auto r = parse_search_body_fast(R"({"vector":[0.5,-1.25],"k":7,"ef":64,"use_cache":false})", "c");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->vector, (std::vector<float>{0.5f, -1.25f}));
  EXPECT_EQ(r->k, 7u);
  EXPECT_EQ(r->ef, 64u);
  EXPECT_FALSE(r->use_cache);
  EXPECT_TRUE(r->text.empty());
}

// Everything unusual or wrong goes the general way (which answers with the precise error or,
// for "filter" and "text", does the work).
TEST(RestCodecTest, FastPathLeavesEverythingElseToTheGeneralPath) {
  const std::string bodies[] = {
      "",
      "[]",
      "null",
      R"({"vector":[1,2]} x)",
      R"({"vector":[1,2],})",
      R"({"vector":[1,2]})"
      R"({"vector":[1,2]})",
      R"({"vector":[1,2],"vector":[3,4]})",                        // twice: nlohmann keeps the last
      R"({"vector":[1,"2"]})",
      R"({"vector":[1,null]})",
      R"({"vector":[1,[2]]})",
      R"({"vector":"1,2"})",
      R"({"vector":[1e39]})",                                      // beyond float
      R"({"vector":[1e400]})",                                     // beyond double
      R"({"vector":[100000000000000000000000000000000000000000]})",  // beyond uint64
      R"({"vector":[1,2],"k":0})",                                 // zero: the general way
      R"({"vector":[1,2],"k":-0})",
      R"({"vector":[1,2],"k":-1})",
      R"({"vector":[1,2],"k":1.0})",
      R"({"vector":[1,2],"k":1e1})",
      R"({"vector":[1,2],"k":"10"})",
      R"({"vector":[1,2],"ef":true})",
      R"({"vector":[1,2],"rerank_factor":1001})",
      R"({"vector":[1,2],"rerank_factor":-0.5})",
      R"({"vector":[1,2],"rerank_factor":"2"})",
      R"({"vector":[1,2],"exact":1})",
      R"({"vector":[1,2],"with_payload":"true"})",
      R"({"vector":[1,2],"filter":{"field":"a","eq":1}})",
      R"({"vector":[1,2],"filter":null})",
      R"({"text":"hello"})",
      R"({"vector":[1,2],"text":"hello"})",
      R"({"vector":[1,2],"limit":5})",
      R"({"k":5})",
      R"({"vector":[1,2])",
      "{\"vector\":[1,2],\"k\":5,\"\xff\":1}",
  };
  for (const std::string& b : bodies) {
    EXPECT_FALSE(parse_search_body_fast(b, "c").has_value()) << b;
    check(b);
  }
  // Over 1 MiB: the general way, however well formed.
  std::string big = R"({"vector":[)";
  while (big.size() < (size_t{1} << 20)) big += "0.125,";
  big += "1]}";
  EXPECT_FALSE(parse_search_body_fast(big, "c").has_value());
  EXPECT_TRUE(general(big).is_ok());
}

// Random byte mutations of valid bodies: the fast path never accepts what the general path
// refuses, and never reads an accepted body differently.
TEST(RestCodecTest, FastPathAgreesWithTheGeneralPathOnMutatedBodies) {
  const std::string seeds[] = {
      R"({"vector":[0.5,-1.25,3e-3,7,1e10],"k":10,"ef":64,"use_cache":false})",
      R"({"k":3,"vector":[0.1,0.2,-0],"nprobe":8,"rerank_factor":2.5,"exact":true,"streaming":false})",
      R"({"vector":[1,2,3],"with_payload":true,"with_vector":true})",
  };
  const std::string alphabet = "0123456789-+.eE,:[]{}\" \\ntrufalsxyzk";
  std::mt19937 rng(17);
  size_t accepted = 0, total = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string b = seeds[rng() % std::size(seeds)];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: b.erase(at, 1); break;
        default: b.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    ++total;
    if (parse_search_body_fast(b, "c")) ++accepted;
    check(b);
    if (HasFatalFailure()) return;
  }
  // Both kinds of outcome were exercised.
  EXPECT_GT(accepted, total / 50);
  EXPECT_LT(accepted, total);
}

}  // namespace
}  // namespace vecstream

// PayloadFilter: every operator on matching and non-matching payloads, exact number semantics,
// canonical strings, every error with its message, the limits, garbage input, a property test
// against a plain recursive evaluator, concurrent matches(), and the selectivity estimate.
#include "segment/payload_filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

// Allocation counting for the "matches() allocates nothing" test: the replaced global operator
// new counts on the calling thread while that thread's flag is set. All plain forms are replaced
// so that new and delete always pair (malloc/free), sanitizers included; they are kept out of
// line so that GCC does not see free() meet a pointer it knows came from new.
namespace {
thread_local bool tl_count_allocations = false;
thread_local size_t tl_allocations = 0;
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t n) {
  if (tl_count_allocations) ++tl_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) { return ::operator new(n); }
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (tl_count_allocations) ++tl_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace vecstream {
namespace {

using json = nlohmann::json;

// Concatenates strings. (`"literal" + std::string&&` trips GCC 12's false -Wrestrict, PR 105329.)
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

// Parses `filter`, failing the test (and returning false) if it does not parse.
bool match(std::string_view filter, const char* payload) {
  auto f = PayloadFilter::parse(filter);
  if (!f.is_ok()) {
    ADD_FAILURE() << filter << " -> " << f.status().to_string();
    return false;
  }
  return f->matches(json::parse(payload));
}

bool match(std::string_view filter, const json& payload) {
  auto f = PayloadFilter::parse(filter);
  if (!f.is_ok()) {
    ADD_FAILURE() << filter << " -> " << f.status().to_string();
    return false;
  }
  return f->matches(payload);
}

// The INVALID_ARGUMENT message for a filter that must not parse.
std::string error_message(const Result<PayloadFilter>& r) {
  if (r.is_ok()) {
    ADD_FAILURE() << "parsed, but should not: " << r->to_string();
    return "";
  }
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  return r.status().message();
}
std::string error_of(const char* text) { return error_message(PayloadFilter::parse(std::string_view(text))); }
std::string error_of(const std::string& text) { return error_message(PayloadFilter::parse(std::string_view(text))); }
std::string error_of(const json& j) { return error_message(PayloadFilter::parse(j)); }

std::string canonical(std::string_view text) {
  auto f = PayloadFilter::parse(text);
  if (!f.is_ok()) {
    ADD_FAILURE() << text << " -> " << f.status().to_string();
    return "";
  }
  return f->to_string();
}

// ---------------------------------------------------------------------------------------------
// Operators

TEST(PayloadFilterTest, EqStringNumberBoolNull) {
  EXPECT_TRUE(match(R"({"field":"color","eq":"red"})", R"({"color":"red"})"));
  EXPECT_FALSE(match(R"({"field":"color","eq":"red"})", R"({"color":"blue"})"));
  EXPECT_FALSE(match(R"({"field":"color","eq":"red"})", R"({"color":"Red"})"));
  EXPECT_FALSE(match(R"({"field":"color","eq":"red"})", R"({"color":"red "})"));
  EXPECT_TRUE(match(R"({"field":"color","eq":""})", R"({"color":""})"));

  EXPECT_TRUE(match(R"({"field":"n","eq":3})", R"({"n":3})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":3})", R"({"n":4})"));
  EXPECT_TRUE(match(R"({"field":"n","eq":-7})", R"({"n":-7})"));
  EXPECT_TRUE(match(R"({"field":"n","eq":2.5})", R"({"n":2.5})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":2.5})", R"({"n":2})"));

  EXPECT_TRUE(match(R"({"field":"b","eq":true})", R"({"b":true})"));
  EXPECT_FALSE(match(R"({"field":"b","eq":true})", R"({"b":false})"));
  EXPECT_TRUE(match(R"({"field":"b","eq":false})", R"({"b":false})"));

  EXPECT_TRUE(match(R"({"field":"z","eq":null})", R"({"z":null})"));
  EXPECT_FALSE(match(R"({"field":"z","eq":null})", R"({})"));  // missing is not null
  EXPECT_FALSE(match(R"({"field":"z","eq":null})", R"({"z":0})"));
}

TEST(PayloadFilterTest, EqTypeMismatchNeverMatches) {
  EXPECT_FALSE(match(R"({"field":"n","eq":3})", R"({"n":"3"})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":"3"})", R"({"n":3})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":1})", R"({"n":true})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":true})", R"({"n":1})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":0})", R"({"n":false})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":0})", R"({"n":null})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":"x"})", R"({"n":{"x":1}})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":null})", R"({"n":{}})"));
}

TEST(PayloadFilterTest, In) {
  const char* f = R"({"field":"tags","in":["a","b",3,true,null]})";
  EXPECT_TRUE(match(f, R"({"tags":"a"})"));
  EXPECT_TRUE(match(f, R"({"tags":"b"})"));
  EXPECT_TRUE(match(f, R"({"tags":3})"));
  EXPECT_TRUE(match(f, R"({"tags":3.0})"));
  EXPECT_TRUE(match(f, R"({"tags":true})"));
  EXPECT_TRUE(match(f, R"({"tags":null})"));
  EXPECT_FALSE(match(f, R"({"tags":"c"})"));
  EXPECT_FALSE(match(f, R"({"tags":"3"})"));
  EXPECT_FALSE(match(f, R"({"tags":false})"));
  EXPECT_FALSE(match(f, R"({"tags":4})"));
  EXPECT_FALSE(match(f, R"({"other":"a"})"));

  EXPECT_FALSE(match(R"({"field":"t","in":[]})", R"({"t":"a"})"));
  EXPECT_FALSE(match(R"({"field":"t","in":[]})", R"({"t":[]})"));
  EXPECT_TRUE(match(R"({"not":{"field":"t","in":[]}})", R"({"t":"a"})"));
  EXPECT_TRUE(match(R"({"field":"t","in":[false]})", R"({"t":false})"));
  EXPECT_FALSE(match(R"({"field":"t","in":[false]})", R"({"t":true})"));
}

TEST(PayloadFilterTest, InLargeListsOfStringsAndNumbers) {
  json f = {{"field", "k"}, {"in", json::array()}};
  for (int i = 0; i < 4096; i += 2) {
    f["in"].push_back(i % 4 == 0 ? json(cat("s", std::to_string(i))) : json(i));
  }
  auto pf = PayloadFilter::parse(f);
  ASSERT_TRUE(pf.is_ok()) << pf.status().to_string();
  for (int i = -2; i < 4100; ++i) {
    const bool in_list = i >= 0 && i < 4096 && i % 2 == 0;
    EXPECT_EQ(pf->matches({{"k", cat("s", std::to_string(i))}}), in_list && i % 4 == 0) << i;
    EXPECT_EQ(pf->matches({{"k", i}}), in_list && i % 4 == 2) << i;
    EXPECT_EQ(pf->matches({{"k", static_cast<double>(i)}}), in_list && i % 4 == 2) << i;
  }
}

TEST(PayloadFilterTest, RangeBounds) {
  EXPECT_TRUE(match(R"({"field":"p","range":{"gt":1}})", R"({"p":1.5})"));
  EXPECT_FALSE(match(R"({"field":"p","range":{"gt":1}})", R"({"p":1})"));
  EXPECT_TRUE(match(R"({"field":"p","range":{"gte":1}})", R"({"p":1})"));
  EXPECT_FALSE(match(R"({"field":"p","range":{"gte":1}})", R"({"p":0.999})"));
  EXPECT_TRUE(match(R"({"field":"p","range":{"lt":10.5}})", R"({"p":10.4})"));
  EXPECT_FALSE(match(R"({"field":"p","range":{"lt":10.5}})", R"({"p":10.5})"));
  EXPECT_TRUE(match(R"({"field":"p","range":{"lte":10.5}})", R"({"p":10.5})"));
  EXPECT_FALSE(match(R"({"field":"p","range":{"lte":10.5}})", R"({"p":11})"));

  const char* both = R"({"field":"price","range":{"gte":1,"lt":10.5}})";
  EXPECT_TRUE(match(both, R"({"price":1})"));
  EXPECT_TRUE(match(both, R"({"price":10})"));
  EXPECT_TRUE(match(both, R"({"price":10.499})"));
  EXPECT_FALSE(match(both, R"({"price":10.5})"));
  EXPECT_FALSE(match(both, R"({"price":0})"));
  EXPECT_FALSE(match(both, R"({"price":-3})"));

  // All four at once.
  const char* all = R"({"field":"p","range":{"gt":0,"gte":1,"lt":5,"lte":4}})";
  EXPECT_FALSE(match(all, R"({"p":0.5})"));
  EXPECT_TRUE(match(all, R"({"p":1})"));
  EXPECT_TRUE(match(all, R"({"p":4})"));
  EXPECT_FALSE(match(all, R"({"p":4.5})"));
}

TEST(PayloadFilterTest, RangeNonNumbersAndContradictionsNeverMatch) {
  const char* f = R"({"field":"p","range":{"gte":0}})";
  EXPECT_FALSE(match(f, R"({"p":"5"})"));
  EXPECT_FALSE(match(f, R"({"p":true})"));
  EXPECT_FALSE(match(f, R"({"p":null})"));
  EXPECT_FALSE(match(f, R"({"p":{"v":5}})"));
  EXPECT_FALSE(match(f, R"({})"));
  // Accepted, and matches nothing.
  const char* empty = R"({"field":"p","range":{"gt":10,"lt":1}})";
  for (const char* p : {R"({"p":0})", R"({"p":5})", R"({"p":11})", R"({"p":[0,5,11]})"}) {
    EXPECT_FALSE(match(empty, p)) << p;
  }
  EXPECT_FALSE(match(R"({"field":"p","range":{"gt":3,"lt":3}})", R"({"p":3})"));
  EXPECT_TRUE(match(R"({"field":"p","range":{"gte":3,"lte":3}})", R"({"p":3})"));
}

TEST(PayloadFilterTest, Exists) {
  EXPECT_TRUE(match(R"({"field":"a","exists":true})", R"({"a":1})"));
  EXPECT_TRUE(match(R"({"field":"a","exists":true})", R"({"a":null})"));
  EXPECT_TRUE(match(R"({"field":"a","exists":true})", R"({"a":[]})"));
  EXPECT_TRUE(match(R"({"field":"a","exists":true})", R"({"a":{}})"));
  EXPECT_FALSE(match(R"({"field":"a","exists":true})", R"({"b":1})"));
  EXPECT_FALSE(match(R"({"field":"a","exists":false})", R"({"a":1})"));
  EXPECT_TRUE(match(R"({"field":"a","exists":false})", R"({"b":1})"));
  EXPECT_TRUE(match(R"({"field":"a.b","exists":true})", R"({"a":{"b":0}})"));
  EXPECT_FALSE(match(R"({"field":"a.b","exists":true})", R"({"a":{"c":0}})"));
  EXPECT_FALSE(match(R"({"field":"a.b","exists":true})", R"({"a":5})"));
}

TEST(PayloadFilterTest, NestedPaths) {
  const char* payload = R"({"a":{"b":{"c":"deep","n":7},"s":"x"},"arr":[{"b":1}],"str":"a.b"})";
  EXPECT_TRUE(match(R"({"field":"a.b.c","eq":"deep"})", payload));
  EXPECT_TRUE(match(R"({"field":"a.b.n","range":{"gt":6}})", payload));
  EXPECT_TRUE(match(R"({"field":"a.s","in":["x"]})", payload));
  EXPECT_FALSE(match(R"({"field":"a.b.c.d","exists":true})", payload));  // through a string
  EXPECT_FALSE(match(R"({"field":"a.x.c","exists":true})", payload));
  EXPECT_FALSE(match(R"({"field":"arr.b","eq":1})", payload));  // paths do not descend arrays
  EXPECT_FALSE(match(R"({"field":"a.b","eq":"deep"})", payload));  // an object is no scalar
  EXPECT_TRUE(match(R"({"field":"a.b","exists":true})", payload));
  // A key with a literal dot is not addressable: "a.b" always means nesting.
  EXPECT_FALSE(match(R"({"field":"x.y","eq":1})", R"({"x.y":1})"));
}

TEST(PayloadFilterTest, ArraysMatchWhenAnyElementMatches) {
  EXPECT_TRUE(match(R"({"field":"tags","eq":"b"})", R"({"tags":["a","b","c"]})"));
  EXPECT_FALSE(match(R"({"field":"tags","eq":"d"})", R"({"tags":["a","b","c"]})"));
  EXPECT_FALSE(match(R"({"field":"tags","eq":"a"})", R"({"tags":[]})"));
  EXPECT_TRUE(match(R"({"field":"tags","in":["x","c"]})", R"({"tags":["a","b","c"]})"));
  EXPECT_FALSE(match(R"({"field":"tags","in":["x","y"]})", R"({"tags":["a","b","c"]})"));
  EXPECT_TRUE(match(R"({"field":"v","eq":2})", R"({"v":[1,"2",2.0]})"));
  EXPECT_TRUE(match(R"({"field":"v","eq":null})", R"({"v":[1,null]})"));
  EXPECT_TRUE(match(R"({"field":"v","range":{"gte":5,"lt":10}})", R"({"v":[1,7,20]})"));
  // One element must satisfy all bounds on its own.
  EXPECT_FALSE(match(R"({"field":"v","range":{"gte":5,"lt":10}})", R"({"v":[1,20]})"));
  EXPECT_FALSE(match(R"({"field":"v","range":{"gte":0}})", R"({"v":["1",true,null]})"));
  // Nested arrays and objects inside the array never match.
  EXPECT_FALSE(match(R"({"field":"v","eq":1})", R"({"v":[[1]]})"));
  EXPECT_FALSE(match(R"({"field":"v","eq":1})", R"({"v":[{"x":1}]})"));
  EXPECT_FALSE(match(R"({"field":"v","range":{"gt":0}})", R"({"v":[[1]]})"));
  // not(eq) over an array: true only when no element matches.
  EXPECT_FALSE(match(R"({"not":{"field":"v","eq":"a"}})", R"({"v":["a","b"]})"));
  EXPECT_TRUE(match(R"({"not":{"field":"v","eq":"c"}})", R"({"v":["a","b"]})"));
}

TEST(PayloadFilterTest, IntegersAndDoublesCompareByValue) {
  EXPECT_TRUE(match(R"({"field":"n","eq":3})", R"({"n":3.0})"));
  EXPECT_TRUE(match(R"({"field":"n","eq":3.0})", R"({"n":3})"));
  EXPECT_TRUE(match(R"({"field":"n","eq":-3.0})", R"({"n":-3})"));
  EXPECT_TRUE(match(R"({"field":"n","eq":0})", R"({"n":-0.0})"));
  EXPECT_TRUE(match(R"({"field":"n","eq":-0.0})", R"({"n":0})"));
  EXPECT_FALSE(match(R"({"field":"n","eq":3})", R"({"n":3.0000001})"));
  EXPECT_TRUE(match(R"({"field":"n","in":[1.0,2.0]})", R"({"n":2})"));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":2.5}})", R"({"n":3})"));
  EXPECT_FALSE(match(R"({"field":"n","range":{"gt":3.5}})", R"({"n":3})"));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gte":-1,"lte":-1}})", R"({"n":-1.0})"));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":-1.5,"lt":-0.5}})", R"({"n":-1})"));
  EXPECT_FALSE(match(R"({"field":"n","range":{"gt":-0.5}})", R"({"n":-1})"));
  // 2^53 + 1 is no double: the int is above 2^53 and the filter must see that exactly.
  EXPECT_FALSE(match(R"({"field":"n","eq":9007199254740992.0})", R"({"n":9007199254740993})"));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":9007199254740992.0}})",
                    R"({"n":9007199254740993})"));
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":9007199254740993}})",
                    R"({"n":9007199254740992.0})"));
}

TEST(PayloadFilterTest, BigIntegersAtTheEdges) {
  const uint64_t umax = std::numeric_limits<uint64_t>::max();
  const int64_t imin = std::numeric_limits<int64_t>::min();
  const int64_t imax = std::numeric_limits<int64_t>::max();
  const json pu = {{"n", umax}};
  const json pu1 = {{"n", umax - 1}};
  EXPECT_TRUE(match(R"({"field":"n","eq":18446744073709551615})", pu));
  EXPECT_FALSE(match(R"({"field":"n","eq":18446744073709551615})", pu1));
  EXPECT_FALSE(match(R"({"field":"n","eq":18446744073709551614})", pu));
  // 2^64 as a double is above every uint64; 2^63 as a double equals 2^63 as a uint64.
  EXPECT_FALSE(match(R"({"field":"n","eq":1.8446744073709552e19})", pu));
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":1.8446744073709552e19}})", pu));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":1.8446744073709550e19}})", pu));
  EXPECT_TRUE(match(R"({"field":"n","eq":9.223372036854775808e18})",
                    json{{"n", uint64_t{1} << 63}}));
  EXPECT_FALSE(match(R"({"field":"n","eq":9.223372036854775808e18})", json{{"n", imax}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":9.223372036854775808e18}})", json{{"n", imax}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":9223372036854775806}})", json{{"n", imax}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":9223372036854775807}})", pu));
  EXPECT_TRUE(match(R"({"field":"n","eq":-9223372036854775808})", json{{"n", imin}}));
  EXPECT_TRUE(match(R"({"field":"n","eq":-9.223372036854775808e18})", json{{"n", imin}}));
  EXPECT_FALSE(match(R"({"field":"n","eq":-9223372036854775808})", json{{"n", imin + 1}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":-9223372036854775807}})", json{{"n", imin}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":-1e19}})", json{{"n", imin}}));
  EXPECT_FALSE(match(R"({"field":"n","range":{"lt":-1e19}})", json{{"n", imin}}));
  // Negative ints sit below every unsigned value, whatever the representation.
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":0}})", json{{"n", imin}}));
  EXPECT_FALSE(match(R"({"field":"n","range":{"lt":0}})", pu));
  // Integers beyond uint64 in filter text become doubles and compare as such.
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":99999999999999999999}})", pu));
  // A payload holding a signed int64 that is non-negative compares like the unsigned one.
  EXPECT_TRUE(match(R"({"field":"n","eq":5})", json{{"n", int64_t{5}}}));
  EXPECT_TRUE(match(R"({"field":"n","eq":5})", json{{"n", uint64_t{5}}}));
}

TEST(PayloadFilterTest, NanAndInfinityInPayloads) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(match(R"({"field":"n","range":{"gte":0}})", json{{"n", nan}}));
  EXPECT_FALSE(match(R"({"field":"n","range":{"lt":0}})", json{{"n", nan}}));
  EXPECT_FALSE(match(R"({"field":"n","in":[0,1,2]})", json{{"n", nan}}));
  EXPECT_TRUE(match(R"({"field":"n","exists":true})", json{{"n", nan}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":1e308}})", json{{"n", inf}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"gt":18446744073709551615}})", json{{"n", inf}}));
  EXPECT_TRUE(match(R"({"field":"n","range":{"lt":-9223372036854775808}})", json{{"n", -inf}}));
  EXPECT_FALSE(match(R"({"field":"n","eq":18446744073709551615})", json{{"n", inf}}));
}

TEST(PayloadFilterTest, MissingFieldsAndNullPayload) {
  const json null_payload;
  const json array_payload = json::array({1, 2});
  const json number_payload = 5;
  for (const json* p : {&null_payload, &array_payload, &number_payload}) {
    EXPECT_FALSE(match(R"({"field":"a","eq":null})", *p));
    EXPECT_FALSE(match(R"({"field":"a","in":[null, 1]})", *p));
    EXPECT_FALSE(match(R"({"field":"a","range":{"gte":0}})", *p));
    EXPECT_FALSE(match(R"({"field":"a","exists":true})", *p));
    EXPECT_TRUE(match(R"({"field":"a","exists":false})", *p));
    EXPECT_TRUE(match(R"({"not":{"field":"a","eq":1}})", *p));
    EXPECT_FALSE(match(R"({"or":[{"field":"a","eq":1},{"field":"b","exists":true}]})", *p));
    EXPECT_TRUE(match(R"({"and":[{"not":{"field":"a","eq":1}},{"field":"b","exists":false}]})", *p));
  }
  EXPECT_FALSE(match(R"({"field":"a","eq":1})", R"({})"));
  EXPECT_FALSE(match(R"({"field":"a","range":{"lt":1}})", R"({"b":0})"));
}

TEST(PayloadFilterTest, Combinators) {
  const char* payload = R"({"color":"red","n":5,"tags":["x","y"]})";
  EXPECT_TRUE(match(R"({"and":[{"field":"color","eq":"red"},{"field":"n","range":{"gt":1}}]})", payload));
  EXPECT_FALSE(match(R"({"and":[{"field":"color","eq":"red"},{"field":"n","range":{"gt":9}}]})", payload));
  EXPECT_TRUE(match(R"({"or":[{"field":"color","eq":"blue"},{"field":"tags","eq":"y"}]})", payload));
  EXPECT_FALSE(match(R"({"or":[{"field":"color","eq":"blue"},{"field":"tags","eq":"z"}]})", payload));
  EXPECT_TRUE(match(R"({"not":{"field":"color","eq":"blue"}})", payload));
  EXPECT_FALSE(match(R"({"not":{"field":"color","eq":"red"}})", payload));
  EXPECT_TRUE(match(R"({"not":{"not":{"field":"color","eq":"red"}}})", payload));
  EXPECT_TRUE(match(R"({"and":[{"field":"n","eq":5}]})", payload));
  EXPECT_FALSE(match(R"({"or":[{"field":"n","eq":6}]})", payload));
  EXPECT_TRUE(match(
      R"({"and":[{"or":[{"field":"color","eq":"blue"},{"not":{"field":"n","eq":4}}]},
                 {"not":{"and":[{"field":"tags","eq":"x"},{"field":"tags","eq":"q"}]}},
                 {"or":[{"field":"missing","exists":true},{"field":"tags","in":["y"]}]}]})",
      payload));
}

// A filter whose deepest leaf lies `levels` nodes from the root: and/or/not-not wrappers around
// eq(n, 5), so it matches exactly when n == 5.
std::string deep_filter(size_t levels) {
  std::string s = R"({"field":"n","eq":5})";
  size_t depth = 1;
  while (depth < levels) {
    if (depth % 3 == 1 && depth + 2 <= levels) {
      s = cat(R"({"not":{"not":)", s, "}}");
      depth += 2;
    } else if (depth % 2 == 0) {
      s = cat(R"({"and":[)", s, "]}");
      ++depth;
    } else {
      s = cat(R"({"or":[{"field":"n","eq":6},)", s, "]}");
      ++depth;
    }
  }
  return s;
}

TEST(PayloadFilterTest, DeepNesting) {
  // 31 nots around a leaf: depth 32, the limit.
  std::string s = R"({"field":"n","eq":5})";
  for (int i = 0; i < 31; ++i) s = cat(R"({"not":)", s, "}");
  auto f = PayloadFilter::parse(s);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->node_count(), 32u);
  EXPECT_FALSE(f->matches(json{{"n", 5}}));  // odd number of nots
  EXPECT_TRUE(f->matches(json{{"n", 4}}));

  // Mixed and/or/not chains evaluate like the leaf they wrap (two nots cancel).
  for (size_t levels : {2u, 5u, 17u, 32u}) {
    const std::string d = deep_filter(levels);
    auto g = PayloadFilter::parse(d);
    ASSERT_TRUE(g.is_ok()) << levels << ": " << g.status().to_string();
    EXPECT_TRUE(g->matches(json{{"n", 5}})) << levels;
    EXPECT_FALSE(g->matches(json{{"n", 7}})) << levels;
  }
  EXPECT_NE(error_of(cat(R"({"and":[)", deep_filter(32), "]}")).find("nesting depth exceeds 32"),
            std::string::npos);
}

TEST(PayloadFilterTest, NodeCount) {
  EXPECT_EQ(PayloadFilter::parse(R"({"field":"a","eq":1})")->node_count(), 1u);
  EXPECT_EQ(PayloadFilter::parse(R"({"not":{"field":"a","eq":1}})")->node_count(), 2u);
  EXPECT_EQ(PayloadFilter::parse(
                R"({"and":[{"field":"a","eq":1},{"or":[{"field":"b","exists":true},{"not":{"field":"c","in":[]}}]}]})")
                ->node_count(),
            6u);
}

// ---------------------------------------------------------------------------------------------
// Canonical strings

TEST(PayloadFilterTest, ToStringIsCanonical) {
  EXPECT_EQ(canonical(R"({"eq":"red","field":"color"})"), R"({"eq":"red","field":"color"})");
  EXPECT_EQ(canonical(R"( { "field" : "color" , "eq" : "red" } )"),
            R"({"eq":"red","field":"color"})");
  // Integral doubles are written as integers; -0 as 0.
  EXPECT_EQ(canonical(R"({"field":"n","eq":3.0})"), canonical(R"({"field":"n","eq":3})"));
  EXPECT_EQ(canonical(R"({"field":"n","eq":-0.0})"), R"({"eq":0,"field":"n"})");
  EXPECT_EQ(canonical(R"({"field":"n","eq":1e3})"), R"({"eq":1000,"field":"n"})");
  EXPECT_EQ(canonical(R"({"field":"n","eq":2.5})"), R"({"eq":2.5,"field":"n"})");
  EXPECT_EQ(canonical(R"({"field":"n","eq":1e300})"), R"({"eq":1e+300,"field":"n"})");
  // `in` lists are sets: sorted (null, false, true, numbers, strings) and deduplicated.
  EXPECT_EQ(canonical(R"({"field":"t","in":["b",3,"a",null,true,1.0,false,3.0,"a",-2]})"),
            R"({"field":"t","in":[null,false,true,-2,1,3,"a","b"]})");
  EXPECT_EQ(canonical(R"({"field":"t","in":["b","a"]})"), canonical(R"({"field":"t","in":["a","b","a"]})"));
  EXPECT_EQ(canonical(R"({"field":"p","range":{"lt":10.5,"gte":1.0}})"),
            R"({"field":"p","range":{"gte":1,"lt":10.5}})");
  EXPECT_EQ(canonical(R"({"field":"a.b","exists":false})"), R"({"exists":false,"field":"a.b"})");
  // Combinators keep the order of their children.
  EXPECT_EQ(canonical(R"({"or":[{"field":"b","eq":2},{"not":{"field":"a","eq":1}}]})"),
            R"({"or":[{"eq":2,"field":"b"},{"not":{"eq":1,"field":"a"}}]})");
  EXPECT_NE(canonical(R"({"and":[{"field":"a","eq":1},{"field":"b","eq":2}]})"),
            canonical(R"({"or":[{"field":"a","eq":1},{"field":"b","eq":2}]})"));
  // Big numbers are written exactly.
  EXPECT_EQ(canonical(R"({"field":"n","eq":18446744073709551615})"),
            R"({"eq":18446744073709551615,"field":"n"})");
  EXPECT_EQ(canonical(R"({"field":"n","eq":-9223372036854775808})"),
            R"({"eq":-9223372036854775808,"field":"n"})");
}

TEST(PayloadFilterTest, ToStringRoundTripsThroughParse) {
  for (const char* text : {
           R"({"field":"color","eq":"red"})",
           R"({"field":"tags","in":["a","b",3,2.25,null,true,"\u00e9\n\""]})",
           R"({"field":"price","range":{"gt":-1.5,"lte":1e-300}})",
           R"({"field":"a.b.c","exists":true})",
           R"({"and":[{"or":[{"field":"x","eq":1}]},{"not":{"field":"y","eq":"z"}}]})",
           R"({"field":"n","range":{"gte":1.8446744073709552e19}})",
           R"({"field":"n","eq":0.1})",
       }) {
    auto f = PayloadFilter::parse(text);
    ASSERT_TRUE(f.is_ok()) << text << ": " << f.status().to_string();
    auto g = PayloadFilter::parse(f->to_string());
    ASSERT_TRUE(g.is_ok()) << f->to_string() << ": " << g.status().to_string();
    EXPECT_EQ(g->to_string(), f->to_string());
    EXPECT_EQ(g->node_count(), f->node_count());
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(PayloadFilterTest, ErrorMessagesNameThePath) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {R"([])", "filter: must be a JSON object, got array"},
      {R"("eq")", "filter: must be a JSON object, got string"},
      {R"(42)", "filter: must be a JSON object, got number"},
      {R"(null)", "filter: must be a JSON object, got null"},
      {R"({})", "filter: missing operator (one of eq, in, range, exists, and, or, not)"},
      {R"({"field":"a"})", "filter: missing operator (one of eq, in, range, exists, and, or, not)"},
      {R"({"field":"a","like":"x"})",
       "filter: unknown operator \"like\" (expected one of eq, in, range, exists, and, or, not)"},
      {R"({"field":"a","eq":1,"in":[1]})",
       "filter: has both 'eq' and 'in'; a filter node takes exactly one operator"},
      {R"({"and":[{"field":"a","eq":1}],"or":[{"field":"a","eq":1}]})",
       "filter: has both 'and' and 'or'; a filter node takes exactly one operator"},
      {R"({"eq":1})", "filter: 'eq' needs a 'field'"},
      {R"({"range":{"gt":1}})", "filter: 'range' needs a 'field'"},
      {R"({"field":"a","and":[{"field":"a","eq":1}]})", "filter: 'field' is not allowed with 'and'"},
      {R"({"field":"a","not":{"field":"a","eq":1}})", "filter: 'field' is not allowed with 'not'"},
      {R"({"field":"","eq":1})", "filter.field: must not be empty"},
      {R"({"field":3,"eq":1})", "filter.field: must be a string, got number"},
      {R"({"field":null,"eq":1})", "filter.field: must be a string, got null"},
      {R"({"field":"a..b","eq":1})", "filter.field: empty segment in \"a..b\""},
      {R"({"field":".a","eq":1})", "filter.field: empty segment in \".a\""},
      {R"({"field":"a.","eq":1})", "filter.field: empty segment in \"a.\""},
      {R"({"field":"a","eq":[1]})", "filter.eq: must be a string, number, bool or null, got array"},
      {R"({"field":"a","eq":{"x":1}})", "filter.eq: must be a string, number, bool or null, got object"},
      {R"({"field":"a","in":"x"})", "filter.in: must be an array of values, got string"},
      {R"({"field":"a","in":[1,{}]})", "filter.in[1]: must be a string, number, bool or null, got object"},
      {R"({"field":"a","in":[1,2,[3]]})", "filter.in[2]: must be a string, number, bool or null, got array"},
      {R"({"and":[{"field":"a","eq":1},{"field":"b","eq":2},{"field":"p","range":{}}]})",
       "filter.and[2].range: needs at least one of gt/gte/lt/lte"},
      {R"({"field":"p","range":{"gt":"1"}})", "filter.range.gt: must be a number, got string"},
      {R"({"field":"p","range":{"gte":1,"lte":true}})", "filter.range.lte: must be a number, got boolean"},
      {R"({"field":"p","range":{"lt":null}})", "filter.range.lt: must be a number, got null"},
      {R"({"field":"p","range":{"between":[1,2]}})",
       "filter.range: unknown bound \"between\" (expected gt, gte, lt, lte)"},
      {R"({"field":"p","range":[1,2]})", "filter.range: must be an object, got array"},
      {R"({"field":"p","range":5})", "filter.range: must be an object, got number"},
      {R"({"field":"a","exists":"yes"})", "filter.exists: must be true or false, got string"},
      {R"({"field":"a","exists":1})", "filter.exists: must be true or false, got number"},
      {R"({"and":[]})", "filter.and: needs at least one filter"},
      {R"({"or":[]})", "filter.or: needs at least one filter"},
      {R"({"or":{"field":"a","eq":1}})", "filter.or: must be an array of filters, got object"},
      {R"({"not":[{"field":"a","eq":1}]})", "filter.not: must be a JSON object, got array"},
      {R"({"not":{"field":"a","exists":"yes"}})", "filter.not.exists: must be true or false, got string"},
      {R"({"or":[{"field":"a","eq":1},{"nope":1}]})",
       "filter.or[1]: unknown operator \"nope\" (expected one of eq, in, range, exists, and, or, not)"},
      {R"({"and":[{"or":[{"not":{"field":"a","in":[1,"x",true,{}]}}]}]})",
       "filter.and[0].or[0].not.in[3]: must be a string, number, bool or null, got object"},
      {R"({"and":[{"field":"a","eq":1},3]})", "filter.and[1]: must be a JSON object, got number"},
      {R"({"field":"p","range":{"gt":1e400}})",
       "filter text is not valid JSON: number overflow parsing '1e400'"},
  };
  for (const Case& c : cases) EXPECT_EQ(error_of(c.text), c.message) << c.text;
}

TEST(PayloadFilterTest, NonFiniteAndNonUtf8ValuesAreRejected) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(error_of(json{{"field", "p"}, {"range", {{"gt", nan}}}}), "filter.range.gt: must not be NaN");
  EXPECT_EQ(error_of(json{{"field", "p"}, {"range", {{"lte", -inf}}}}), "filter.range.lte: must be finite");
  EXPECT_EQ(error_of(json{{"field", "p"}, {"eq", nan}}), "filter.eq: must not be NaN");
  EXPECT_EQ(error_of(json{{"field", "p"}, {"in", {1, inf}}}), "filter.in[1]: must be finite");
  EXPECT_EQ(error_of(json{{"field", "a\xff"}, {"eq", 1}}), "filter.field: is not valid UTF-8");
  EXPECT_EQ(error_of(json{{"field", "a"}, {"eq", "\xc0\x80"}}), "filter.eq: string is not valid UTF-8");
  EXPECT_EQ(error_of(json{{"field", "a"}, {"in", {"ok", "\xed\xa0\x80"}}}),
            "filter.in[1]: string is not valid UTF-8");
  // An unknown key that is not UTF-8 still gives a printable message.
  const std::string msg = error_of(json{{"field", "a"}, {"\xff", 1}});
  EXPECT_NE(msg.find("filter: unknown operator"), std::string::npos) << msg;
  // Valid multi-byte UTF-8 is fine.
  EXPECT_TRUE(PayloadFilter::parse(json{{"field", "caf\xc3\xa9.\xf0\x9f\x98\x80"}, {"eq", "\xe2\x82\xac"}}).is_ok());
  // A discarded value (what a parser callback leaves behind) is not an object.
  EXPECT_EQ(error_of(json(json::value_t::discarded)), "filter: must be a JSON object, got discarded");
}

TEST(PayloadFilterTest, MalformedTextGivesTheParserPosition) {
  const std::string msg = error_of(R"({"field":"a","eq":)");
  EXPECT_EQ(msg.rfind("filter text is not valid JSON (byte 19): parse error at line 1, column 19", 0), 0u)
      << msg;
  const std::string msg2 = error_of("{\"field\":\"a\",\n \"eq\": tru}");
  EXPECT_NE(msg2.find("line 2, column"), std::string::npos) << msg2;
  EXPECT_NE(error_of("").find("filter text is not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("{} {}").find("filter text is not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"field":"a","eq":NaN})").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"field":"a","eq":1,})").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("{\"field\":\"a\xff\",\"eq\":1}").find("not valid JSON"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(PayloadFilterTest, DepthLimit) {
  std::string ok = R"({"field":"n","eq":5})";
  for (size_t i = 1; i < PayloadFilter::kMaxDepth; ++i) ok = cat(R"({"not":)", ok, "}");
  EXPECT_TRUE(PayloadFilter::parse(ok).is_ok());
  const std::string too_deep = cat(R"({"not":)", ok, "}");
  std::string where = "filter";
  for (size_t i = 0; i < PayloadFilter::kMaxDepth; ++i) where += ".not";
  EXPECT_EQ(error_of(too_deep), where + ": nesting depth exceeds 32");
  // Depth through and/or counts the same way.
  std::string chain = R"({"field":"n","eq":5})";
  for (size_t i = 1; i <= PayloadFilter::kMaxDepth; ++i) chain = cat(R"({"and":[)", chain, "]}");
  EXPECT_NE(error_of(chain).find(": nesting depth exceeds 32"), std::string::npos);
  // A very deep JSON text is refused without trouble.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += R"({"not":)";
  EXPECT_NE(error_of(deep).find("not valid JSON"), std::string::npos);
  deep += R"({"field":"n","eq":5})";
  for (int i = 0; i < 100000; ++i) deep += "}";
  EXPECT_NE(error_of(deep).find("nesting depth exceeds 32"), std::string::npos);
}

TEST(PayloadFilterTest, NodeLimit) {
  json f = {{"or", json::array()}};
  for (size_t i = 0; i + 1 < PayloadFilter::kMaxNodes; ++i) {
    f["or"].push_back({{"field", "k"}, {"eq", i}});
  }
  auto ok = PayloadFilter::parse(f);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->node_count(), PayloadFilter::kMaxNodes);
  EXPECT_TRUE(ok->matches({{"k", 1022}}));
  EXPECT_FALSE(ok->matches({{"k", 1023}}));
  f["or"].push_back({{"field", "k"}, {"eq", 9999}});
  EXPECT_EQ(error_of(f), "filter.or[1023]: filter has more than 1024 nodes");
}

TEST(PayloadFilterTest, InListLimit) {
  json f = {{"field", "k"}, {"in", json::array()}};
  for (size_t i = 0; i < PayloadFilter::kMaxInValues; ++i) f["in"].push_back(i);
  EXPECT_TRUE(PayloadFilter::parse(f).is_ok());
  f["in"].push_back("one more");
  EXPECT_EQ(error_of(f), "filter.in: 4097 values, limit 4096");
}

TEST(PayloadFilterTest, FieldLengthLimit) {
  std::string field(PayloadFilter::kMaxFieldBytes, 'x');
  field[100] = '.';
  auto ok = PayloadFilter::parse(json{{"field", field}, {"eq", 1}});
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_TRUE(ok->matches({{field.substr(0, 100), {{field.substr(101), 1}}}}));
  EXPECT_EQ(error_of(json{{"field", field + "y"}, {"eq", 1}}), "filter.field: is 257 bytes, limit 256");
}

TEST(PayloadFilterTest, TextSizeLimit) {
  const std::string head = R"({"field":"a","eq":")";
  const std::string tail = R"("})";
  const std::string fits(PayloadFilter::kMaxTextBytes - head.size() - tail.size(), 'v');
  auto ok = PayloadFilter::parse(head + fits + tail);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_TRUE(ok->matches({{"a", fits}}));
  EXPECT_EQ(error_of(head + fits + "v" + tail), "filter text is 1048577 bytes, limit 1048576");
}

// ---------------------------------------------------------------------------------------------
// Garbage

TEST(PayloadFilterTest, GarbageTextNeverCrashes) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "{}[]\":,. \n\t0123456789-+eEtruefalsnl\\abcdfgiqxyz";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text(rng() % 64, '\0');
    for (char& c : text) {
      c = iter % 2 == 0 ? static_cast<char>(rng() & 0xFF)
                        : alphabet[rng() % alphabet.size()];
    }
    auto r = PayloadFilter::parse(text);
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
}

TEST(PayloadFilterTest, EveryTruncationIsAnError) {
  const std::string text =
      R"({"and":[{"field":"a.b","eq":"red"},{"or":[{"field":"n","range":{"gte":1,"lt":10.5}},)"
      R"({"not":{"field":"t","in":["x",2,null,true]}}]},{"field":"e","exists":false}]})";
  ASSERT_TRUE(PayloadFilter::parse(text).is_ok());
  for (size_t len = 0; len < text.size(); ++len) {
    auto r = PayloadFilter::parse(std::string_view(text).substr(0, len));
    EXPECT_FALSE(r.is_ok()) << len;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(PayloadFilterTest, MutatedFiltersNeverCrash) {
  // Replace one value somewhere in a valid filter with a value of every other type.
  const json base = json::parse(
      R"({"and":[{"field":"a","eq":"red"},{"or":[{"field":"n","range":{"gte":1,"lt":10.5}},)"
      R"({"not":{"field":"t","in":["x",2]}}]},{"field":"e","exists":false}]})");
  const json replacements[] = {nullptr, true, 3, -1.5, "s", json::array(), json::array({1}),
                               json::object(), json{{"x", 1}}};
  const json flat = base.flatten();
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    for (const json& r : replacements) {
      json mutated = flat;
      mutated[it.key()] = r;
      json f;
      try {
        f = mutated.unflatten();
      } catch (const json::exception&) {
        continue;
      }
      auto parsed = PayloadFilter::parse(f);
      if (!parsed.is_ok()) {
        EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(parsed.status().message().rfind("filter", 0), 0u) << parsed.status().message();
      } else {
        (void)parsed->matches(json{{"a", "red"}, {"n", 3}, {"t", {"x"}}});
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Property test against a plain recursive evaluator over the filter JSON itself.

static_assert(std::numeric_limits<long double>::digits >= 64,
              "the reference evaluator compares numbers exactly through long double");

long double as_long_double(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<int64_t>());
  return static_cast<long double>(v.get<double>());
}

const json* ref_lookup(const json& payload, const std::string& field) {
  const json* cur = &payload;
  size_t start = 0;
  while (true) {
    const size_t dot = field.find('.', start);
    const std::string key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

bool ref_equal(const json& value, const json& wanted) {
  if (value.is_number() || wanted.is_number()) {
    return value.is_number() && wanted.is_number() &&
           as_long_double(value) == as_long_double(wanted);
  }
  if (value.is_structured()) return false;
  return value == wanted;
}

bool ref_in_range(const json& value, const json& range) {
  if (!value.is_number()) return false;
  const long double x = as_long_double(value);
  if (std::isnan(x)) return false;
  for (auto it = range.begin(); it != range.end(); ++it) {
    const long double b = as_long_double(it.value());
    if (it.key() == "gt" && !(x > b)) return false;
    if (it.key() == "gte" && !(x >= b)) return false;
    if (it.key() == "lt" && !(x < b)) return false;
    if (it.key() == "lte" && !(x <= b)) return false;
  }
  return true;
}

bool ref_matches(const json& f, const json& payload) {
  if (f.contains("and")) {
    for (const json& c : f["and"]) if (!ref_matches(c, payload)) return false;
    return true;
  }
  if (f.contains("or")) {
    for (const json& c : f["or"]) if (ref_matches(c, payload)) return true;
    return false;
  }
  if (f.contains("not")) return !ref_matches(f["not"], payload);
  const json* v = ref_lookup(payload, f["field"].get<std::string>());
  if (f.contains("exists")) return (v != nullptr) == f["exists"].get<bool>();
  if (v == nullptr) return false;
  std::vector<json> candidates;
  if (v->is_array()) {
    candidates.assign(v->begin(), v->end());
  } else {
    candidates.push_back(*v);
  }
  for (const json& c : candidates) {
    if (f.contains("eq") && ref_equal(c, f["eq"])) return true;
    if (f.contains("in")) {
      for (const json& w : f["in"]) if (ref_equal(c, w)) return true;
    }
    if (f.contains("range") && ref_in_range(c, f["range"])) return true;
  }
  return false;
}

class RandomJson {
 public:
  explicit RandomJson(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return rng_() % n; }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  // Scalars chosen to collide often and to sit at the awkward edges of int64/uint64/double.
  json scalar() {
    const uint64_t umax = std::numeric_limits<uint64_t>::max();
    const int64_t imin = std::numeric_limits<int64_t>::min();
    const int64_t imax = std::numeric_limits<int64_t>::max();
    const int small = static_cast<int>(below(7)) - 3;
    switch (below(14)) {
      case 0: return nullptr;
      case 1: return chance(0.5);
      case 2: case 3: return small;
      case 4: return static_cast<double>(small);
      case 5: return small + 0.5;
      case 6: return umax - below(3);
      case 7: return imin + static_cast<int64_t>(below(2));
      case 8: return imax - static_cast<int64_t>(below(2));
      case 9: return 9223372036854775808.0;               // 2^63
      case 10: return chance(0.5) ? 18446744073709551616.0 : -9223372036854775808.0;
      case 11: return static_cast<uint64_t>(9007199254740992ull + below(3));  // 2^53 + {0,1,2}
      case 12: return 9007199254740992.0;
      default: {
        static const char* const kStrings[] = {"r", "g", "b", "", "R"};
        return kStrings[below(5)];
      }
    }
  }

  json number() {
    json v = scalar();
    while (!v.is_number()) v = scalar();
    return v;
  }

  json value(int depth) {
    const size_t pick = below(10);
    if (pick < 6 || depth >= 2) return scalar();
    if (pick < 9) {
      json arr = json::array();
      for (size_t i = below(4); i > 0; --i) arr.push_back(depth == 0 && chance(0.2) ? value(depth + 1) : scalar());
      return arr;
    }
    return object(depth + 1);
  }

  json object(int depth) {
    json o = json::object();
    for (const char* key : {"x", "y", "z"}) {
      if (chance(0.6)) o[key] = value(depth + 1);
    }
    return o;
  }

  json payload() {
    if (chance(0.05)) return nullptr;
    if (chance(0.02)) return json::array({1, 2});
    json p = json::object();
    for (const char* key : {"a", "b", "c"}) {
      if (chance(0.75)) p[key] = value(0);
    }
    if (chance(0.7)) p["o"] = chance(0.8) ? object(0) : value(0);
    return p;
  }

  json filter(int depth) {
    if (depth < 4 && chance(0.4)) {
      const size_t kind = below(3);
      if (kind == 2) return {{"not", filter(depth + 1)}};
      json children = json::array();
      for (size_t i = 1 + below(3); i > 0; --i) children.push_back(filter(depth + 1));
      return {{kind == 0 ? "and" : "or", children}};
    }
    static const char* const kFields[] = {"a", "b", "c", "o", "o.x", "o.y", "o.x.z", "missing"};
    json f = {{"field", kFields[below(8)]}};
    switch (below(4)) {
      case 0:
        f["eq"] = scalar();
        break;
      case 1: {
        json values = json::array();
        for (size_t i = below(5); i > 0; --i) values.push_back(scalar());
        f["in"] = values;
        break;
      }
      case 2: {
        json range = json::object();
        for (const char* bound : {"gt", "gte", "lt", "lte"}) {
          if (chance(0.4)) range[bound] = number();
        }
        if (range.empty()) range[chance(0.5) ? "gte" : "lt"] = number();
        f["range"] = range;
        break;
      }
      default:
        f["exists"] = chance(0.7);
        break;
    }
    return f;
  }

 private:
  std::mt19937_64 rng_;
};

// Reverses every `in` list: a different spelling of the same filter.
json reverse_in_lists(json f) {
  if (f.contains("in")) std::reverse(f["in"].begin(), f["in"].end());
  for (const char* key : {"and", "or"}) {
    if (f.contains(key)) {
      for (json& c : f[key]) c = reverse_in_lists(c);
    }
  }
  if (f.contains("not")) f["not"] = reverse_in_lists(f["not"]);
  return f;
}

TEST(PayloadFilterTest, PropertyMatchesReferenceEvaluator) {
  RandomJson gen(2024);
  std::vector<json> payloads;
  for (int i = 0; i < 300; ++i) payloads.push_back(gen.payload());
  size_t checked = 0;
  size_t matched = 0;
  for (int iter = 0; iter < 600; ++iter) {
    const json fj = gen.filter(0);
    auto f = PayloadFilter::parse(fj);
    ASSERT_TRUE(f.is_ok()) << fj.dump() << ": " << f.status().to_string();
    // The text path and the canonical round trip give the same filter.
    auto from_text = PayloadFilter::parse(fj.dump());
    ASSERT_TRUE(from_text.is_ok()) << from_text.status().to_string();
    EXPECT_EQ(from_text->to_string(), f->to_string());
    auto again = PayloadFilter::parse(f->to_string());
    ASSERT_TRUE(again.is_ok()) << again.status().to_string();
    EXPECT_EQ(again->to_string(), f->to_string());
    auto reversed = PayloadFilter::parse(reverse_in_lists(fj));
    ASSERT_TRUE(reversed.is_ok());
    EXPECT_EQ(reversed->to_string(), f->to_string());

    for (const json& p : payloads) {
      const bool want = ref_matches(fj, p);
      ASSERT_EQ(f->matches(p), want) << "filter " << fj.dump() << "\npayload " << p.dump();
      ASSERT_EQ(again->matches(p), want) << "canonical " << f->to_string() << "\npayload " << p.dump();
      ++checked;
      matched += want ? 1 : 0;
    }
  }
  // The generator must exercise both outcomes substantially.
  EXPECT_GT(matched, checked / 10);
  EXPECT_LT(matched, checked * 9 / 10);
}

// ---------------------------------------------------------------------------------------------
// Concurrency, allocation, selectivity

TEST(PayloadFilterTest, MatchesAllocatesNothing) {
  auto f = PayloadFilter::parse(
      R"({"and":[{"field":"a.b","in":["x","y","z",1,2,3]},{"or":[{"field":"n","range":{"gt":1,"lte":9}},)"
      R"({"not":{"field":"t","eq":"q"}}]},{"field":"e","exists":false}]})");
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  const json payloads[] = {
      json::parse(R"({"a":{"b":["w","y"]},"n":5,"t":"q"})"),
      json::parse(R"({"a":{"b":2.0},"n":[0,5],"t":["q","r"]})"),
      json::parse(R"({"a":{"b":"x"},"e":1})"),
      json(),
  };
  size_t hits = 0;
  tl_allocations = 0;
  tl_count_allocations = true;
  for (int rep = 0; rep < 100; ++rep) {
    for (const json& p : payloads) hits += f->matches(p) ? 1 : 0;
  }
  tl_count_allocations = false;
  EXPECT_EQ(tl_allocations, 0u);
  EXPECT_EQ(hits, 200u);  // the first two payloads match
}

TEST(PayloadFilterTest, MatchesIsSafeFromManyThreads) {
  RandomJson gen(99);
  std::vector<json> payloads;
  for (int i = 0; i < 500; ++i) payloads.push_back(gen.payload());
  std::vector<PayloadFilter> filters;
  std::vector<std::vector<char>> expected;
  while (filters.size() < 20) {
    auto f = PayloadFilter::parse(gen.filter(0));
    ASSERT_TRUE(f.is_ok());
    std::vector<char> want;
    for (const json& p : payloads) want.push_back(f->matches(p) ? 1 : 0);
    filters.push_back(std::move(*f));
    expected.push_back(std::move(want));
  }
  std::atomic<size_t> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t fi = 0; fi < filters.size(); ++fi) {
          const size_t which = (fi + static_cast<size_t>(t)) % filters.size();
          for (size_t pi = 0; pi < payloads.size(); ++pi) {
            if (filters[which].matches(payloads[pi]) != (expected[which][pi] != 0)) ++mismatches;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0u);
}

TEST(PayloadFilterTest, EstimateSelectivity) {
  std::vector<json> rows;
  for (int i = 0; i < 10000; ++i) rows.push_back({{"k", i % 4}, {"i", i}});
  auto at = [&](size_t i) -> const json* { return &rows[i]; };
  auto f = PayloadFilter::parse(R"({"field":"k","eq":0})");
  ASSERT_TRUE(f.is_ok());
  const double est = f->estimate_selectivity(at, rows.size());
  EXPECT_NEAR(est, 0.25, 0.1);
  EXPECT_EQ(est, f->estimate_selectivity(at, rows.size()));           // deterministic
  EXPECT_EQ(f->estimate_selectivity(at, 100, 256), 0.25);             // exact when n <= sample
  EXPECT_EQ(f->estimate_selectivity(at, 0), 0.0);
  EXPECT_EQ(f->estimate_selectivity(at, rows.size(), 0), 0.0);
  EXPECT_NEAR(f->estimate_selectivity(at, rows.size(), 4096, 12345), 0.25, 0.03);

  // A range over an ordered column: stratified sampling sees the whole range.
  auto r = PayloadFilter::parse(R"({"field":"i","range":{"lt":1000}})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_NEAR(r->estimate_selectivity(at, rows.size()), 0.1, 0.03);
  EXPECT_EQ(r->estimate_selectivity(at, 1000), 1.0);

  // Rows without a payload: only field-free filters match them.
  auto odd_missing = [&](size_t i) -> const json* { return i % 2 == 1 ? nullptr : &rows[i]; };
  auto none = PayloadFilter::parse(R"({"field":"k","exists":false})");
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->estimate_selectivity(odd_missing, 200), 0.5);
  EXPECT_NEAR(none->estimate_selectivity(odd_missing, rows.size()), 0.5, 0.1);
  // Never reads outside [0, n).
  for (size_t n : {1u, 2u, 255u, 256u, 257u, 511u, 9999u}) {
    size_t max_row = 0;
    auto probe = [&](size_t i) -> const json* {
      max_row = std::max(max_row, i);
      return &rows[i];
    };
    (void)f->estimate_selectivity(probe, n, 256, n);
    EXPECT_LT(max_row, n);
  }
}

}  // namespace
}  // namespace vecstream

// `vecstream query / upsert / collections` end to end: the real binary against a real
// `vecstream serve` child process on loopback ports the OS picked (tests/app/serve_process.h).
// Checks the answers (nearest ids against a brute-force scan), the exit statuses (1 server
// refused, 2 bad input, 3 no answer) and that every rejected input changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/serve_process.h"
#include "support/redis_server.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

using json = nlohmann::json;
using testing::CommandResult;
using testing::ServeProcess;
using testing::shell_quote;

constexpr size_t kDim = 8;
constexpr size_t kPoints = 300;

std::string format_vector(const std::vector<float>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", v[i]);
    if (i) s += ',';
    s += buf;
  }
  return s + "]";
}

/// A sanitizer's report in a command's stderr fails the test: under ASan a report exits 1, which
/// would otherwise pass for "the server refused the request".
CommandResult checked(CommandResult r) {
  for (const char* report : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
    EXPECT_EQ(r.err.find(report), std::string::npos) << r.err;
  }
  return r;
}

// The shared server has small limits on purpose: the CLI must split its batches to fit them.
constexpr size_t kServerMaxUpsert = 40;
constexpr size_t kServerMaxBatchQueries = 3;

class ClientCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServeProcess(
        VECSTREAM_BIN,
        {"--set", "query.max_upsert_points=" + std::to_string(kServerMaxUpsert), "--set",
         "query.max_batch_queries=" + std::to_string(kServerMaxBatchQueries)});
    scratch_ = new testing::TempDir();
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    vectors_.assign(kPoints, std::vector<float>(kDim));
    for (auto& v : vectors_) {
      for (float& x : v) x = u(rng);
    }
  }
  static void TearDownTestSuite() {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << "the server did not stop cleanly on SIGTERM";
    }
    delete server_;
    server_ = nullptr;
    delete scratch_;
    scratch_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->started()) << server_->log(); }

  /// `vecstream ARGS --url <the server>` (unless the args give a --url of their own).
  static CommandResult cli(const std::string& args, const std::string* stdin_text = nullptr) {
    std::string cmd = std::string(VECSTREAM_BIN) + " " + args;
    if (args.find("--url") == std::string::npos) cmd += " --url " + server_->url();
    return checked(testing::run_command(*scratch_, cmd, stdin_text));
  }

  /// A file with these lines, in the scratch directory.
  static std::string file_with(const std::string& name, const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    const std::string path = *scratch_ / name;
    testing::write_text_file(path, text);
    return path;
  }

  static std::string point_line(size_t id) {
    return json{{"id", id},
                {"vector", json::parse(format_vector(vectors_[id]))},
                {"payload", {{"group", id % 3}, {"name", "p" + std::to_string(id)}}}}
        .dump();
  }

  /// Creates `name` (dim kDim) and upserts every point; returns the upsert's output.
  static CommandResult create_and_fill(const std::string& name) {
    CommandResult c = cli("collections create " + name + " --dim " + std::to_string(kDim));
    EXPECT_EQ(c.exit_code, 0) << c.err;
    std::vector<std::string> lines;
    for (size_t i = 0; i < kPoints; ++i) lines.push_back(point_line(i));
    return cli("upsert " + name + " " + shell_quote(file_with(name + ".jsonl", lines)));
  }

  /// Ids of the k nearest points (squared L2) to `q` among those `keep` accepts.
  template <typename Keep>
  static std::vector<uint64_t> brute_force(const std::vector<float>& q, size_t k, Keep keep) {
    std::vector<std::pair<float, uint64_t>> all;
    for (size_t i = 0; i < kPoints; ++i) {
      if (!keep(i)) continue;
      float d = 0;
      for (size_t j = 0; j < kDim; ++j) d += (q[j] - vectors_[i][j]) * (q[j] - vectors_[i][j]);
      all.emplace_back(d, i);
    }
    std::sort(all.begin(), all.end());
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < k && i < all.size(); ++i) ids.push_back(all[i].second);
    return ids;
  }

  static std::vector<uint64_t> ids_of(const json& search_response) {
    std::vector<uint64_t> ids;
    for (const json& p : search_response["points"]) ids.push_back(p["id"].get<uint64_t>());
    return ids;
  }

  static uint64_t live_points(const std::string& collection) {
    CommandResult d = cli("collections describe " + collection + " --json");
    EXPECT_EQ(d.exit_code, 0) << d.err;
    json j = json::parse(d.out, nullptr, false);
    if (j.is_discarded()) return ~uint64_t{0};
    return j["stats"]["live"].get<uint64_t>();
  }

  static ServeProcess* server_;
  static testing::TempDir* scratch_;
  static std::vector<std::vector<float>> vectors_;
};

ServeProcess* ClientCliTest::server_ = nullptr;
testing::TempDir* ClientCliTest::scratch_ = nullptr;
std::vector<std::vector<float>> ClientCliTest::vectors_;

TEST_F(ClientCliTest, CollectionsLifecycle) {
  CommandResult r = cli("collections create life --dim 4 --metric cosine --shards 2 --index flat");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("created collection \"life\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cosine"), std::string::npos) << r.out;

  r = cli("collections list");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("life"), std::string::npos) << r.out;
  r = cli("collections list --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json list = json::parse(r.out);
  bool found = false;
  for (const json& c : list["collections"]) found = found || c["config"]["name"] == "life";
  EXPECT_TRUE(found) << r.out;

  r = cli("collections describe life");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json info = json::parse(r.out);
  EXPECT_EQ(info["config"]["dim"], 4);
  EXPECT_EQ(info["config"]["shards"], 2);

  // Creating it again: the server's ALREADY_EXISTS, exit 1.
  r = cli("collections create life --dim 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ALREADY_EXISTS"), std::string::npos) << r.err;
  // A config the server refuses (no dim): its INVALID_ARGUMENT, and nothing is created.
  r = cli("collections create nodim");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  EXPECT_EQ(cli("collections describe nodim").exit_code, 1);

  r = cli("collections drop life");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dropped"), std::string::npos);
  r = cli("collections describe life");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND (HTTP 404)"), std::string::npos) << r.err;
  EXPECT_EQ(cli("collections drop life").exit_code, 1);
}

TEST_F(ClientCliTest, UpsertThenQueryFindsTheNearestIds) {
  CommandResult up = create_and_fill("docs");
  ASSERT_EQ(up.exit_code, 0) << up.err;
  // 300 points in batches of 500 against a server that takes at most 40: split, all acked.
  EXPECT_NE(up.out.find("upserted 300 points"), std::string::npos) << up.out;
  EXPECT_EQ(live_points("docs"), kPoints);

  // A stored point's own vector finds it first, at distance 0 (JSON array form).
  CommandResult r = cli("query docs " + shell_quote(format_vector(vectors_[123])) + " -k 5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json ans = json::parse(r.out);
  ASSERT_EQ(ans["points"].size(), 5u);
  EXPECT_EQ(ans["points"][0]["id"], 123);
  EXPECT_FLOAT_EQ(ans["points"][0]["distance"].get<float>(), 0.0f);

  // Exact search of fresh query vectors: the same ids as a brute-force scan. The comma form,
  // with --vector= so that a leading minus is not read as an option.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int t = 0; t < 5; ++t) {
    std::vector<float> q(kDim);
    for (float& x : q) x = u(rng);
    std::string comma = format_vector(q);
    comma = comma.substr(1, comma.size() - 2);
    r = cli("query docs --vector=" + shell_quote(comma) + " -k 10 --exact --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ids_of(json::parse(r.out)), brute_force(q, 10, [](size_t) { return true; }));
    // The default (HNSW) search on 300 points finds the same nearest neighbour.
    r = cli("query docs --vector=" + shell_quote(comma) + " -k 1 --ef 64 --no-cache --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ids_of(json::parse(r.out)), brute_force(q, 1, [](size_t) { return true; }));
  }

  // The table form: a header, one row per point, the payload and vector columns when asked.
  r = cli("query docs " + shell_quote(format_vector(vectors_[7])) +
          " -k 3 --with-payload --with-vector");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("score"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"name\":\"p7\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 points"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n1  7 "), std::string::npos) << r.out;

  // Upserting the same file again replaces (idempotent by id): still 300 points.
  std::vector<std::string> lines;
  for (size_t i = 0; i < 50; ++i) lines.push_back(point_line(i));
  r = cli("upsert docs --batch-size 7 --json", nullptr);
  EXPECT_EQ(r.exit_code, 2) << "no --file and stdin is /dev/null (no points): " << r.err;
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  r = cli("upsert docs - --batch-size 7 --json", &text);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json totals = json::parse(r.out);
  EXPECT_EQ(totals["applied"], 50);
  EXPECT_EQ(totals["requests"], 8);  // ceil(50 / 7)
  EXPECT_EQ(live_points("docs"), kPoints);
}

TEST_F(ClientCliTest, BatchQueriesFromFileAndStdin) {
  ASSERT_EQ(create_and_fill("batch").exit_code, 0);
  // Arrays and query objects; an object's fields win over the flags. Five queries against a
  // server that takes three per batch: two requests (or more), answers in order.
  const std::vector<std::string> lines = {
      format_vector(vectors_[1]),
      "",
      json{{"vector", json::parse(format_vector(vectors_[2]))}, {"k", 2}}.dump(),
      format_vector(vectors_[3]),
      format_vector(vectors_[4]),
      json{{"vector", json::parse(format_vector(vectors_[5]))},
           {"filter", {{"field", "group"}, {"eq", 0}}}}
          .dump(),
  };
  const std::string file = file_with("queries.jsonl", lines);
  CommandResult r = cli("query batch --file " + shell_quote(file) + " -k 4 --exact --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  ASSERT_EQ(out["results"].size(), 5u);
  EXPECT_EQ(out["results"][0]["points"][0]["id"], 1);
  EXPECT_EQ(out["results"][1]["points"].size(), 2u);
  EXPECT_EQ(out["results"][1]["points"][0]["id"], 2);
  EXPECT_EQ(out["results"][2]["points"][0]["id"], 3);
  EXPECT_EQ(out["results"][3]["points"][0]["id"], 4);
  EXPECT_EQ(ids_of(out["results"][4]),
            brute_force(vectors_[5], 4, [](size_t i) { return i % 3 == 0; }));

  // The same from standard input, printed as tables naming each query's line.
  const std::string text = testing::read_text_file(file);
  r = cli("query batch - -k 2", &text);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("query 1 (stdin line 1)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("query 2 (stdin line 3)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("query 5 (stdin line 6)"), std::string::npos) << r.out;
}

TEST_F(ClientCliTest, FilteredQuery) {
  ASSERT_EQ(create_and_fill("filtered").exit_code, 0);
  const std::vector<float>& q = vectors_[10];
  CommandResult r = cli("query filtered " + shell_quote(format_vector(q)) +
                        " -k 5 --exact --with-payload --json --filter " +
                        shell_quote(R"({"field":"group","eq":2})"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json ans = json::parse(r.out);
  ASSERT_EQ(ans["points"].size(), 5u);
  for (const json& p : ans["points"]) EXPECT_EQ(p["payload"]["group"], 2) << p.dump();
  EXPECT_EQ(ids_of(ans), brute_force(q, 5, [](size_t i) { return i % 3 == 2; }));

  // A filter that is not JSON or not a filter: input errors, nothing sent.
  r = cli("query filtered " + shell_quote(format_vector(q)) + " --filter '{\"field\":'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--filter"), std::string::npos) << r.err;
  r = cli("query filtered " + shell_quote(format_vector(q)) +
          " --filter '{\"field\":\"g\",\"frobnicate\":1}'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--filter"), std::string::npos) << r.err;
}

TEST_F(ClientCliTest, BadUpsertInputChangesNothing) {
  ASSERT_EQ(cli("collections create strict --dim 4").exit_code, 0);
  const std::string good1 = R"({"id": 1, "vector": [1, 2, 3, 4], "payload": {"a": 1}})";
  const std::string good2 = R"({"id": "two", "vector": [0.5, 0.5, 0.5, 0.5]})";
  struct Case {
    std::string name;
    std::vector<std::string> lines;
    std::string expect;  // in the message
  };
  const std::vector<Case> cases = {
      {"wrong-dim",
       {good1, good2, R"({"id": 3, "vector": [1, 2, 3]})"},
       "line 3: the vector has 3 values; collection \"strict\" has dim 4"},
      {"garbage", {good1, "{\"id\": 2, \"vector\": [1,2,3,4]", good2}, "line 2: invalid JSON"},
      {"nan", {good1, R"({"id": 2, "vector": [1, NaN, 3, 4]})"}, "line 2: invalid JSON"},
      {"out-of-float-range", {R"({"id": 2, "vector": [1, 1e39, 3, 4]})"}, "line 1: vector[1]"},
      {"string-value",
       {good1, R"({"id": 2, "vector": [1, "x", 3, 4]})"},
       "line 2: vector[1]: expected a number"},
      {"no-id", {R"({"vector": [1, 2, 3, 4]})"}, "line 1: id: required"},
      {"negative-id", {R"({"id": -1, "vector": [1, 2, 3, 4]})"}, "line 1: id"},
      {"unknown-field",
       {R"({"id": 1, "vector": [1, 2, 3, 4], "colour": "red"})"},
       "unknown field \"colour\""},
      {"not-an-object", {"[1, 2, 3, 4]"}, "line 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CommandResult r = cli("upsert strict " + shell_quote(file_with(c.name + ".jsonl", c.lines)));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("no point was written"), std::string::npos) << r.err;
    EXPECT_EQ(live_points("strict"), 0u);
  }

  // A bad line in the second batch: the first batch is acknowledged, nothing of the second sent.
  std::vector<std::string> lines;
  for (int i = 0; i < 5; ++i) lines.push_back(json{{"id", i}, {"vector", {i, 1, 2, 3}}}.dump());
  lines.push_back(R"({"id": 99, "vector": [1, 2]})");
  CommandResult r =
      cli("upsert strict --batch-size 3 " + shell_quote(file_with("second.jsonl", lines)));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("line 6"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("its batch (lines 4-6) was not sent"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 points were acknowledged before it (lines 1-3)"), std::string::npos)
      << r.err;
  EXPECT_EQ(live_points("strict"), 3u);

  // An unknown collection: the server's NOT_FOUND before any line is read.
  r = cli("upsert nosuchcollection " + shell_quote(file_with("ok.jsonl", {good1})));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;
  // No points at all, or a file that does not exist.
  r = cli("upsert strict " + shell_quote(file_with("empty.jsonl", {"", "  "})));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no points"), std::string::npos) << r.err;
  r = cli("upsert strict " + shell_quote(*scratch_ / "missing.jsonl"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
  EXPECT_EQ(live_points("strict"), 3u);
}

TEST_F(ClientCliTest, BadQueryInput) {
  ASSERT_EQ(cli("collections create q4 --dim 4").exit_code, 0);
  ASSERT_EQ(cli("upsert q4 " +
                shell_quote(file_with("q4.jsonl", {R"({"id": 1, "vector": [1, 2, 3, 4]})"})))
                .exit_code,
            0);

  // Wrong dimension: the server's INVALID_ARGUMENT, exit 1.
  CommandResult r = cli("query q4 1,2,3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT (HTTP 400)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dimension"), std::string::npos) << r.err;
  // NaN, infinity, words, nothing: input errors, exit 2, nothing sent.
  for (const char* bad : {"1,nan,3,4", "1,2,inf,4", "1,abc,3,4", "[1, 2, \"x\", 4]", "[1,2", ","}) {
    SCOPED_TRACE(bad);
    r = cli(std::string("query q4 --vector=") + shell_quote(bad));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("VECTOR"), std::string::npos) << r.err;
  }
  // Unknown collection: NOT_FOUND.
  r = cli("query nosuch 1,2,3,4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;
  // k above the server's limit.
  r = cli("query q4 1,2,3,4 -k 100000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  // A query file with a bad line names it.
  r = cli("query q4 --file " + shell_quote(file_with("badq.jsonl", {"[1,2,3,4]", "[1,2,3]"})));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 2: the vector has 3 values"), std::string::npos) << r.err;
  r = cli("query q4 --file " + shell_quote(file_with("badq2.jsonl", {"[1,2,3,4]", "\"text\""})));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  // Both a vector and a file.
  r = cli("query q4 1,2,3,4 --file " + shell_quote(file_with("one.jsonl", {"[1,2,3,4]"})));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(live_points("q4"), 1u);
}

TEST_F(ClientCliTest, NoServerOrBadUrl) {
  const int port = testing::free_tcp_port();
  CommandResult r =
      cli("collections list --timeout 5 --url http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot connect to http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.err;
  r = cli("query docs 1,2,3 --timeout 5 --url http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(r.exit_code, 3);
  for (const char* url :
       {"ftp://127.0.0.1:1", "127.0.0.1:8080", "http://127.0.0.1:99999", "http://:80"}) {
    SCOPED_TRACE(url);
    r = cli(std::string("collections list --url ") + url);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--url"), std::string::npos) << r.err;
  }
  // A CA file for plain http is a mistake worth saying.
  r = cli("collections list --ca-cert /nonexistent.pem");
  EXPECT_EQ(r.exit_code, 2);
}

// API keys: a second server with keys in its configuration file.
TEST(ClientCliAuthTest, ApiKeys) {
  testing::TempDir dir;
  const std::string config = dir / "serve.toml";
  testing::write_text_file(config, R"(
[[api_keys]]
name = "admin"
key = "admin-key-0123456789"
role = "admin"

[[api_keys]]
name = "reader"
key = "reader-key-0123456789"
role = "read"
)");
  ServeProcess server(VECSTREAM_BIN, {"--config", config});
  ASSERT_TRUE(server.started()) << server.log();
  const std::string bin = std::string(VECSTREAM_BIN);
  const std::string url = " --url " + server.url();
  const auto run = [&](const std::string& args, const std::string& env = "") {
    return checked(testing::run_command(
        dir, "env -u VECSTREAM_API_KEY " + env + " " + bin + " " + args + url));
  };

  CommandResult r = run("collections create keyed --dim 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED (HTTP 401)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--api-key"), std::string::npos) << r.err;
  r = run("collections create keyed --dim 2 --api-key wrong-key-0123456789");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;
  r = run("collections list", "VECSTREAM_API_KEY=reader-key-0123456789");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("no collections"), std::string::npos) << r.out;

  r = run("collections create keyed --dim 2 --api-key admin-key-0123456789");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string points = dir / "points.jsonl";
  testing::write_text_file(points, "{\"id\": 1, \"vector\": [1, 2]}\n");
  // The read-only key may query but not write; the refused upsert changes nothing.
  r = run("upsert keyed " + shell_quote(points) + " --api-key reader-key-0123456789");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("PERMISSION_DENIED (HTTP 403)"), std::string::npos) << r.err;
  r = run("upsert keyed " + shell_quote(points), "VECSTREAM_API_KEY=admin-key-0123456789");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("query keyed 1,2 --json --api-key reader-key-0123456789");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["points"].size(), 1u);
  r = run("collections describe keyed --json --api-key reader-key-0123456789");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["stats"]["live"], 1);
  EXPECT_EQ(server.stop(), 0);
}

// HTTPS with a self-signed certificate: trusted through --ca-cert, refused without it.
TEST(ClientCliTlsTest, HttpsWithCaCert) {
  testing::TempDir dir;
  const std::string cert = dir / "cert.pem", key = dir / "key.pem";
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ServeProcess server(VECSTREAM_BIN,
                      {"--set", "http.tls_cert=" + cert, "--set", "http.tls_key=" + key},
                      /*tls=*/true);
  ASSERT_TRUE(server.started()) << server.log();
  const std::string bin = std::string(VECSTREAM_BIN) + " ";
  const auto run = [&](const std::string& args) {
    return checked(testing::run_command(dir, bin + args + " --url " + server.url()));
  };
  CommandResult r = run("collections create secure --dim 3 --ca-cert " + cert);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("collections list --ca-cert " + cert);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("secure"), std::string::npos);
  // Not trusted without the CA: no answer, exit 3.
  r = run("collections list --timeout 5");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not trusted"), std::string::npos) << r.err;
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace vecstream

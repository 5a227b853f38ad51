// GrpcServer over real sockets (127.0.0.1, ephemeral ports) through the generated stub: the whole
// API, read-your-writes, every kind of bad input, API keys and roles, TLS and mutual TLS with
// certificates made by the openssl command line.
#include "serve/grpc_server.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "segment/catalog.h"
#include "support/temp_dir.h"
#include "vecstream/v1/vecstream.grpc.pb.h"

namespace vecstream {
namespace {

namespace pb = ::vecstream::v1;
using testing::TempDir;

// ---- helpers ----------------------------------------------------------------------------------

pb::Point point(uint64_t id, std::vector<float> v, std::string payload = "") {
  pb::Point p;
  p.mutable_id()->set_num(id);
  for (float x : v) p.add_vector(x);
  p.set_payload_json(std::move(payload));
  return p;
}

pb::Point point(std::string id, std::vector<float> v, std::string payload = "") {
  pb::Point p = point(0, std::move(v), std::move(payload));
  p.mutable_id()->set_str(std::move(id));
  return p;
}

pb::SearchRequest query(const std::string& collection, std::vector<float> v, uint32_t k = 10) {
  pb::SearchRequest r;
  r.set_collection(collection);
  for (float x : v) r.add_vector(x);
  r.set_k(k);
  return r;
}

// A server on an ephemeral port over a fresh catalog; stops itself.
struct Env {
  explicit Env(ApiKeys keys = {}, GrpcServer::Options opts = {}, ServiceOptions so = {}) {
    auto c = Catalog::open(dir / "data");
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    catalog = std::move(*c);
    service = std::make_unique<Service>(*catalog, so, nullptr, nullptr);
    opts.address = "127.0.0.1:0";
    opts.threads = 2;
    auto s = GrpcServer::start(*service, keys, opts);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    server = std::move(*s);
  }
  ~Env() {
    server->stop(std::chrono::seconds(2));
    EXPECT_TRUE(catalog->close().is_ok());
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(server->port()); }
  std::unique_ptr<pb::Vecstream::Stub> stub() const {
    return pb::Vecstream::NewStub(grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  }

  TempDir dir;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<Service> service;
  std::unique_ptr<GrpcServer> server;
};

// A client context with a deadline and, when given, an API key.
std::unique_ptr<grpc::ClientContext> ctx(const std::string& key = "", bool x_api_key = false) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!key.empty()) {
    if (x_api_key) {
      c->AddMetadata("x-api-key", key);
    } else {
      c->AddMetadata("authorization", "Bearer " + key);
    }
  }
  return c;
}

grpc::Status create(pb::Vecstream::Stub& stub, const std::string& config_json,
                    const std::string& key = "") {
  pb::CreateCollectionRequest req;
  req.set_config_json(config_json);
  pb::CollectionInfo info;
  return stub.CreateCollection(ctx(key).get(), req, &info);
}

uint64_t live_of(pb::Vecstream::Stub& stub, const std::string& name) {
  pb::DescribeCollectionRequest req;
  req.set_name(name);
  pb::CollectionInfo info;
  grpc::Status s = stub.DescribeCollection(ctx().get(), req, &info);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return info.live();
}

#define EXPECT_CODE(status_expr, code)                                        \
  do {                                                                        \
    const grpc::Status st_ = (status_expr);                                   \
    EXPECT_EQ(st_.error_code(), grpc::StatusCode::code) << st_.error_message(); \
  } while (0)

// ---- the API ----------------------------------------------------------------------------------

TEST(GrpcServerTest, FullRoundTrip) {
  Env env;
  auto stub = env.stub();
  ASSERT_GT(env.server->port(), 0);

  {  // create, list, describe
    pb::CreateCollectionRequest req;
    req.set_config_json(R"({"name":"docs","dim":4,"metric":"l2","shards":2})");
    pb::CollectionInfo info;
    grpc::Status s = stub->CreateCollection(ctx().get(), req, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(info.name(), "docs");
    EXPECT_EQ(info.dim(), 4u);
    EXPECT_EQ(info.metric(), "l2");
    auto j = nlohmann::json::parse(info.info_json());
    EXPECT_EQ(j["config"]["dim"], 4);
    EXPECT_EQ(j["stats"]["live"], 0);
  }
  ASSERT_TRUE(create(*stub, R"({"name":"other","dim":2,"metric":"cosine"})").ok());
  {
    pb::ListCollectionsResponse list;
    ASSERT_TRUE(stub->ListCollections(ctx().get(), pb::ListCollectionsRequest(), &list).ok());
    ASSERT_EQ(list.collections_size(), 2);
    EXPECT_EQ(list.collections(0).name(), "docs");
    EXPECT_EQ(list.collections(1).name(), "other");
    EXPECT_EQ(list.collections(1).metric(), "cosine");
  }

  {  // unary upsert: numeric and string ids, payloads
    pb::UpsertRequest req;
    req.set_collection("docs");
    *req.add_points() = point(1, {1, 0, 0, 0}, R"({"color":"red","n":1})");
    *req.add_points() = point("two", {0, 1, 0, 0}, R"({"color":"blue","n":2})");
    *req.add_points() = point(3, {0, 0, 1, 0});
    pb::UpsertResponse ack;
    grpc::Status s = stub->Upsert(ctx().get(), req, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(ack.applied(), 3u);
    EXPECT_EQ(ack.batches(), 1u);
    EXPECT_GT(ack.seq(), 0u);
  }

  {  // streamed upsert: 5 batches of 20 points, one summary
    pb::UpsertResponse ack;
    auto c = ctx();
    auto writer = stub->UpsertStream(c.get(), &ack);
    for (int b = 0; b < 5; ++b) {
      pb::UpsertRequest req;
      req.set_collection("docs");
      for (int i = 0; i < 20; ++i) {
        const uint64_t id = 100 + static_cast<uint64_t>(b * 20 + i);
        *req.add_points() = point(id, {0, 0, 0, static_cast<float>(id)},
                                  R"({"color":"green","n":)" + std::to_string(id) + "}");
      }
      ASSERT_TRUE(writer->Write(req));
    }
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(ack.applied(), 100u);
    EXPECT_EQ(ack.batches(), 5u);
  }
  EXPECT_EQ(live_of(*stub, "docs"), 103u);

  {  // get
    pb::GetRequest req;
    req.set_collection("docs");
    req.mutable_id()->set_str("two");
    pb::Point p;
    grpc::Status s = stub->Get(ctx().get(), req, &p);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(p.id().str(), "two");
    ASSERT_EQ(p.vector_size(), 4);
    EXPECT_EQ(p.vector(1), 1.0f);
    EXPECT_EQ(nlohmann::json::parse(p.payload_json())["color"], "blue");
  }

  {  // search: nearest first, L2 score = distance, payload and vector on request
    pb::SearchRequest req = query("docs", {0.9f, 0.1f, 0, 0}, 2);
    req.set_with_payload(true);
    req.set_with_vector(true);
    pb::SearchResponse resp;
    grpc::Status s = stub->Search(ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.points_size(), 2);
    EXPECT_EQ(resp.points(0).id().num(), 1u);
    EXPECT_EQ(resp.points(1).id().str(), "two");
    EXPECT_NEAR(resp.points(0).distance(), 0.02f, 1e-5);
    EXPECT_EQ(resp.points(0).score(), resp.points(0).distance());
    EXPECT_EQ(nlohmann::json::parse(resp.points(0).payload_json())["color"], "red");
    EXPECT_EQ(resp.points(0).vector_size(), 4);
    EXPECT_GE(resp.server_seconds(), 0.0);
    EXPECT_FALSE(resp.cached());
  }
  {  // search with a filter, exact, knobs
    pb::SearchRequest req = query("docs", {1, 0, 0, 0}, 5);
    req.set_filter_json(R"({"field":"color","eq":"blue"})");
    req.set_exact(true);
    req.set_ef(64);
    req.set_nprobe(4);
    req.set_streaming(true);
    req.set_use_cache(false);
    pb::SearchResponse resp;
    ASSERT_TRUE(stub->Search(ctx().get(), req, &resp).ok());
    ASSERT_EQ(resp.points_size(), 1);
    EXPECT_EQ(resp.points(0).id().str(), "two");
    EXPECT_TRUE(resp.points(0).payload_json().empty());  // not asked for
    EXPECT_EQ(resp.points(0).vector_size(), 0);
  }
  {  // batch: answers in request order
    pb::SearchBatchRequest req;
    *req.add_queries() = query("docs", {1, 0, 0, 0}, 1);
    *req.add_queries() = query("docs", {0, 0, 1, 0}, 1);
    *req.add_queries() = query("docs", {0, 0, 0, 119}, 1);
    pb::SearchBatchResponse resp;
    grpc::Status s = stub->SearchBatch(ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.results_size(), 3);
    EXPECT_EQ(resp.results(0).points(0).id().num(), 1u);
    EXPECT_EQ(resp.results(1).points(0).id().num(), 3u);
    EXPECT_EQ(resp.results(2).points(0).id().num(), 119u);
  }
  {  // cosine scores are similarities
    pb::UpsertRequest up;
    up.set_collection("other");
    *up.add_points() = point(1, {1, 0});
    pb::UpsertResponse ack;
    ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());
    pb::SearchResponse resp;
    ASSERT_TRUE(stub->Search(ctx().get(), query("other", {2, 0}), &resp).ok());
    ASSERT_EQ(resp.points_size(), 1);
    EXPECT_NEAR(resp.points(0).score(), 1.0f, 1e-5);
    EXPECT_NEAR(resp.points(0).distance(), 0.0f, 1e-5);
  }

  {  // delete by ids (one missing), then by filter
    pb::DeleteRequest req;
    req.set_collection("docs");
    req.add_ids()->set_num(1);
    req.add_ids()->set_str("two");
    req.add_ids()->set_num(999);
    pb::DeleteResponse resp;
    grpc::Status s = stub->Delete(ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.deleted(), 2u);
    pb::DeleteRequest byf;
    byf.set_collection("docs");
    byf.set_filter_json(R"({"field":"n","range":{"gte":100,"lt":110}})");
    ASSERT_TRUE(stub->Delete(ctx().get(), byf, &resp).ok());
    EXPECT_EQ(resp.deleted(), 10u);
  }
  EXPECT_EQ(live_of(*stub, "docs"), 91u);
  {
    pb::GetRequest req;
    req.set_collection("docs");
    req.mutable_id()->set_num(1);
    pb::Point p;
    EXPECT_CODE(stub->Get(ctx().get(), req, &p), NOT_FOUND);
  }

  {  // stats
    pb::StatsResponse resp;
    ASSERT_TRUE(stub->Stats(ctx().get(), pb::StatsRequest(), &resp).ok());
    auto j = nlohmann::json::parse(resp.stats_json());
    EXPECT_EQ(j["collections"]["docs"]["live"], 91);
    EXPECT_EQ(j["collections"]["other"]["live"], 1);
  }

  {  // drop
    pb::DropCollectionRequest req;
    req.set_name("other");
    pb::DropCollectionResponse resp;
    ASSERT_TRUE(stub->DropCollection(ctx().get(), req, &resp).ok());
    pb::DescribeCollectionRequest d;
    d.set_name("other");
    pb::CollectionInfo info;
    EXPECT_CODE(stub->DescribeCollection(ctx().get(), d, &info), NOT_FOUND);
  }
}

TEST(GrpcServerTest, ReadYourWrites) {
  Env env;
  auto stub = env.stub();
  ASSERT_TRUE(create(*stub, R"({"name":"rw","dim":8,"metric":"l2","shards":3,
                               "index":{"kind":"hnsw"}})").ok());
  for (uint64_t i = 0; i < 60; ++i) {
    std::vector<float> v(8);
    for (size_t d = 0; d < 8; ++d) v[d] = static_cast<float>((i * 7 + d * 13) % 29) + 0.5f * i;
    pb::UpsertRequest up;
    up.set_collection("rw");
    *up.add_points() = point(i, v);
    pb::UpsertResponse ack;
    ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());
    pb::SearchResponse resp;
    ASSERT_TRUE(stub->Search(ctx().get(), query("rw", v, 1), &resp).ok());
    ASSERT_EQ(resp.points_size(), 1) << i;
    EXPECT_EQ(resp.points(0).id().num(), i);
    EXPECT_EQ(resp.points(0).distance(), 0.0f);
    // ... and a delete is seen by the next search too.
    pb::DeleteRequest del;
    del.set_collection("rw");
    del.add_ids()->set_num(i);
    pb::DeleteResponse dack;
    ASSERT_TRUE(stub->Delete(ctx().get(), del, &dack).ok());
    ASSERT_TRUE(stub->Search(ctx().get(), query("rw", v, 1), &resp).ok());
    if (resp.points_size() > 0) {
      EXPECT_NE(resp.points(0).id().num(), i);
    }
    *up.mutable_points(0) = point(i, v);
    ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());
  }
  EXPECT_EQ(live_of(*stub, "rw"), 60u);
}

// ---- SearchStream -------------------------------------------------------------------------------

using SearchStream = grpc::ClientReaderWriter<pb::SearchRequest, pb::SearchStreamResponse>;

// One query on an open stream: its answer (which must come).
pb::SearchStreamResponse ask(SearchStream& stream, const pb::SearchRequest& q) {
  pb::SearchStreamResponse r;
  EXPECT_TRUE(stream.Write(q));
  EXPECT_TRUE(stream.Read(&r));
  return r;
}

void expect_same_answer(const pb::SearchResponse& a, const pb::SearchResponse& b) {
  ASSERT_EQ(a.points_size(), b.points_size());
  for (int i = 0; i < a.points_size(); ++i) {
    EXPECT_EQ(a.points(i).id().num(), b.points(i).id().num()) << i;
    EXPECT_EQ(a.points(i).distance(), b.points(i).distance()) << i;
    EXPECT_EQ(a.points(i).payload_json(), b.points(i).payload_json()) << i;
  }
}

// Answers come in order and equal unary Search's, whether the query runs on gRPC's thread
// (inline: batching off), on a worker (inline off), or through the micro-batcher; a bad query
// gets its error in its answer and the stream goes on; writes are visible to the next query on
// an open stream; half-close ends it with OK.
TEST(GrpcServerTest, SearchStreamAnswersLikeSearchAndSurvivesBadQueries) {
  struct Setup {
    size_t inline_max_ef;
    int batch_window_us;
  };
  for (const Setup setup : {Setup{256, 0}, Setup{0, 0}, Setup{256, 200}}) {
    SCOPED_TRACE(std::to_string(setup.inline_max_ef) + " " + std::to_string(setup.batch_window_us));
    GrpcServer::Options opts;
    opts.inline_search_max_ef = setup.inline_max_ef;
    ServiceOptions so;
    so.batch_window = std::chrono::microseconds(setup.batch_window_us);
    Env env({}, opts, so);
    auto stub = env.stub();
    ASSERT_TRUE(create(*stub, R"({"name":"s","dim":4,"metric":"l2","shards":2})").ok());
    pb::UpsertRequest up;
    up.set_collection("s");
    for (uint64_t i = 0; i < 200; ++i) {
      const float f = static_cast<float>(i);
      *up.add_points() = point(i, {f, f * 0.5f, -f, 1.0f}, R"({"n":)" + std::to_string(i) + "}");
    }
    pb::UpsertResponse ack;
    ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());

    auto c = ctx();
    auto stream = stub->SearchStream(c.get());
    for (uint64_t i = 0; i < 200; i += 7) {
      const float f = static_cast<float>(i) + 0.25f;
      pb::SearchRequest q = query("s", {f, f * 0.5f, -f, 1.0f}, 5);
      q.set_with_payload(i % 2 == 0);
      if (i % 3 == 0) q.set_filter_json(R"({"field":"n","range":{"gte":100}})");  // goes to a worker
      if (i % 5 == 0) q.set_exact(true);
      const pb::SearchStreamResponse got = ask(*stream, q);
      ASSERT_FALSE(got.has_error()) << got.error().message();
      pb::SearchResponse want;
      ASSERT_TRUE(stub->Search(ctx().get(), q, &want).ok());
      expect_same_answer(got.result(), want);
      ASSERT_GT(got.result().points_size(), 0);
      if (i % 3 != 0) {
        EXPECT_EQ(got.result().points(0).id().num(), i);
      }
      EXPECT_GE(got.result().server_seconds(), 0.0);
    }

    // Bad queries: each answered with the error unary Search gives, and the stream goes on.
    std::vector<pb::SearchRequest> bad;
    bad.push_back(query("s", {1, 2, 3}));                                               // dimension
    bad.push_back(query("s", {1, std::numeric_limits<float>::quiet_NaN(), 3, 4}));      // NaN
    bad.push_back(query("s", {1, std::numeric_limits<float>::infinity(), 3, 4}));       // inf
    bad.push_back(query("nope", {1, 2, 3, 4}));                                         // collection
    bad.push_back(query("s", {1, 2, 3, 4}));
    bad.back().set_filter_json("{not json");                                           // filter
    bad.push_back(query("s", {1, 2, 3, 4}, 1u << 30));                                  // k
    bad.push_back(query("s", {}));                                                      // no vector
    for (const pb::SearchRequest& q : bad) {
      const pb::SearchStreamResponse got = ask(*stream, q);
      pb::SearchResponse unary;
      const grpc::Status want = stub->Search(ctx().get(), q, &unary);
      ASSERT_FALSE(want.ok());
      ASSERT_TRUE(got.has_error()) << q.collection() << " " << q.filter_json();
      EXPECT_EQ(got.error().code(), static_cast<int>(want.error_code()));
      EXPECT_EQ(got.error().message(), want.error_message());
      EXPECT_EQ(got.result().points_size(), 0);
      const pb::SearchStreamResponse after = ask(*stream, query("s", {3, 1.5f, -3, 1}, 1));
      ASSERT_FALSE(after.has_error());
      ASSERT_EQ(after.result().points_size(), 1);
      EXPECT_EQ(after.result().points(0).id().num(), 3u);
    }

    // Read-your-writes on an open stream.
    pb::UpsertRequest one;
    one.set_collection("s");
    *one.add_points() = point(9999, {500, 500, 500, 500});
    ASSERT_TRUE(stub->Upsert(ctx().get(), one, &ack).ok());
    const pb::SearchStreamResponse seen = ask(*stream, query("s", {500, 500, 500, 500}, 1));
    ASSERT_FALSE(seen.has_error());
    ASSERT_EQ(seen.result().points_size(), 1);
    EXPECT_EQ(seen.result().points(0).id().num(), 9999u);

    ASSERT_TRUE(stream->WritesDone());
    EXPECT_TRUE(stream->Finish().ok());
  }
}

// Keys: no key or an unknown one ends the stream at once (UNAUTHENTICATED); a key without the
// right to the collection gets PERMISSION_DENIED per query, and the stream goes on.
TEST(GrpcServerTest, SearchStreamKeys) {
  ApiKeys keys({{"root", "admin-key", Role::kAdmin, {}},
                {"reader", "read-key", Role::kRead, {}},
                {"scoped", "scoped-key", Role::kRead, {"other"}}});
  Env env(keys);
  auto stub = env.stub();
  ASSERT_TRUE(create(*stub, R"({"name":"c","dim":2})", "admin-key").ok());
  pb::UpsertRequest up;
  up.set_collection("c");
  *up.add_points() = point(1, {1, 2});
  pb::UpsertResponse ack;
  ASSERT_TRUE(stub->Upsert(ctx("admin-key").get(), up, &ack).ok());
  for (const std::string key : {"", "nope-key"}) {
    auto c = ctx(key);
    auto stream = stub->SearchStream(c.get());
    stream->Write(query("c", {1, 2}));
    pb::SearchStreamResponse r;
    EXPECT_FALSE(stream->Read(&r));
    EXPECT_CODE(stream->Finish(), UNAUTHENTICATED);
  }
  {
    auto c = ctx("scoped-key");
    auto stream = stub->SearchStream(c.get());
    const pb::SearchStreamResponse denied = ask(*stream, query("c", {1, 2}));
    ASSERT_TRUE(denied.has_error());
    EXPECT_EQ(denied.error().code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
    const pb::SearchStreamResponse again = ask(*stream, query("c", {1, 2}));
    EXPECT_TRUE(again.has_error());
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  auto c = ctx("read-key", /*x_api_key=*/true);
  auto stream = stub->SearchStream(c.get());
  const pb::SearchStreamResponse ok = ask(*stream, query("c", {1, 2}, 1));
  ASSERT_FALSE(ok.has_error()) << ok.error().message();
  ASSERT_EQ(ok.result().points_size(), 1);
  EXPECT_EQ(ok.result().points(0).id().num(), 1u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// Many streams at once, each with its own answers in its own order.
TEST(GrpcServerTest, SearchStreamsInParallel) {
  Env env;
  auto stub = env.stub();
  ASSERT_TRUE(create(*stub, R"({"name":"p","dim":2})").ok());
  pb::UpsertRequest up;
  up.set_collection("p");
  for (uint64_t i = 0; i < 100; ++i) *up.add_points() = point(i, {static_cast<float>(i), 0});
  pb::UpsertResponse ack;
  ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto c = ctx();
      auto stream = stub->SearchStream(c.get());
      for (int j = 0; j < 200; ++j) {
        const uint64_t want = static_cast<uint64_t>((t * 31 + j * 7) % 100);
        pb::SearchStreamResponse r;
        if (!stream->Write(query("p", {static_cast<float>(want) + 0.1f, 0}, 1)) || !stream->Read(&r) ||
            r.has_error() || r.result().points_size() != 1 || r.result().points(0).id().num() != want) {
          ++wrong;
        }
      }
      stream->WritesDone();
      if (!stream->Finish().ok()) ++wrong;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---- bad input: a precise error, nothing changed ------------------------------------------------

TEST(GrpcServerTest, BadInputIsRejectedAndChangesNothing) {
  Env env;
  auto stub = env.stub();
  ASSERT_TRUE(create(*stub, R"({"name":"c","dim":3,"metric":"l2"})").ok());
  {
    pb::UpsertRequest up;
    up.set_collection("c");
    *up.add_points() = point(1, {1, 2, 3}, R"({"a":1})");
    pb::UpsertResponse ack;
    ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  pb::UpsertResponse ack;

  auto upsert_one = [&](pb::Point p, const std::string& coll = "c") {
    pb::UpsertRequest up;
    up.set_collection(coll);
    *up.add_points() = point(2, {0, 0, 0});  // a good point first: the batch is all or nothing
    *up.add_points() = std::move(p);
    return stub->Upsert(ctx().get(), up, &ack);
  };
  EXPECT_CODE(upsert_one(point(5, {1, 2})), INVALID_ARGUMENT);             // wrong dimension
  EXPECT_CODE(upsert_one(point(5, {1, nan, 3})), INVALID_ARGUMENT);        // NaN
  EXPECT_CODE(upsert_one(point(5, {1, inf, 3})), INVALID_ARGUMENT);        // Inf
  EXPECT_CODE(upsert_one(point(5, {1, 2, 3}, "{not json")), INVALID_ARGUMENT);
  EXPECT_CODE(upsert_one(point(5, {1, 2, 3}, "[1,2]")), INVALID_ARGUMENT);  // not an object
  EXPECT_CODE(upsert_one(point(std::string(300, 'x'), {1, 2, 3})), INVALID_ARGUMENT);
  {
    pb::Point unset = point(5, {1, 2, 3});
    unset.clear_id();
    grpc::Status s = upsert_one(unset);
    EXPECT_CODE(s, INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("points[1]"), std::string::npos) << s.error_message();
  }
  EXPECT_CODE(upsert_one(point(5, {1, 2, 3}), "nope"), NOT_FOUND);
  EXPECT_EQ(live_of(*stub, "c"), 1u);

  // Streams: the failing batch ends the call with its error; earlier batches stay applied.
  {
    auto c = ctx();
    auto writer = stub->UpsertStream(c.get(), &ack);
    pb::UpsertRequest good;
    good.set_collection("c");
    *good.add_points() = point(10, {1, 1, 1});
    pb::UpsertRequest bad;
    bad.set_collection("c");
    *bad.add_points() = point(11, {1, 1});
    ASSERT_TRUE(writer->Write(good));
    writer->Write(bad);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_CODE(s, INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("batch 1"), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(live_of(*stub, "c"), 2u);
  {
    auto c = ctx();
    auto writer = stub->UpsertStream(c.get(), &ack);
    pb::UpsertRequest req;
    req.set_collection("nope");
    *req.add_points() = point(12, {1, 1, 1});
    writer->Write(req);
    writer->WritesDone();
    EXPECT_CODE(writer->Finish(), NOT_FOUND);
  }

  // Search.
  pb::SearchResponse resp;
  EXPECT_CODE(stub->Search(ctx().get(), query("c", {1, 2}), &resp), INVALID_ARGUMENT);
  EXPECT_CODE(stub->Search(ctx().get(), query("c", {1, nan, 2}), &resp), INVALID_ARGUMENT);
  EXPECT_CODE(stub->Search(ctx().get(), query("nope", {1, 2, 3}), &resp), NOT_FOUND);
  EXPECT_CODE(stub->Search(ctx().get(), query("c", {1, 2, 3}, 100000), &resp), INVALID_ARGUMENT);
  {
    pb::SearchRequest q = query("c", {1, 2, 3});
    q.set_filter_json("{\"field\":");
    EXPECT_CODE(stub->Search(ctx().get(), q, &resp), INVALID_ARGUMENT);
    q.set_filter_json(R"({"field":"a","range":{}})");
    grpc::Status s = stub->Search(ctx().get(), q, &resp);
    EXPECT_CODE(s, INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("filter"), std::string::npos) << s.error_message();
    q.set_filter_json(R"({"field":"a","eq":1})");
    ASSERT_TRUE(stub->Search(ctx().get(), q, &resp).ok());
    EXPECT_EQ(resp.points_size(), 1);
  }
  {
    pb::SearchBatchResponse bresp;
    pb::SearchBatchRequest b;
    EXPECT_CODE(stub->SearchBatch(ctx().get(), b, &bresp), INVALID_ARGUMENT);  // empty
    *b.add_queries() = query("c", {1, 2, 3});
    *b.add_queries() = query("c", {1, 2});
    EXPECT_CODE(stub->SearchBatch(ctx().get(), b, &bresp), INVALID_ARGUMENT);
    b.clear_queries();
    *b.add_queries() = query("nope", {1, 2, 3});
    EXPECT_CODE(stub->SearchBatch(ctx().get(), b, &bresp), NOT_FOUND);
  }

  // Delete, get.
  pb::DeleteResponse dresp;
  {
    pb::DeleteRequest d;
    d.set_collection("c");
    EXPECT_CODE(stub->Delete(ctx().get(), d, &dresp), INVALID_ARGUMENT);  // neither
    d.add_ids()->set_num(1);
    d.set_filter_json(R"({"field":"a","eq":1})");
    EXPECT_CODE(stub->Delete(ctx().get(), d, &dresp), INVALID_ARGUMENT);  // both
    d.clear_filter_json();
    d.add_ids();  // unset
    EXPECT_CODE(stub->Delete(ctx().get(), d, &dresp), INVALID_ARGUMENT);
    d.clear_ids();
    d.set_filter_json("not json");
    EXPECT_CODE(stub->Delete(ctx().get(), d, &dresp), INVALID_ARGUMENT);
    d.set_filter_json(R"({"field":"a","bogus":1})");
    EXPECT_CODE(stub->Delete(ctx().get(), d, &dresp), INVALID_ARGUMENT);
    d.set_collection("nope");
    d.set_filter_json(R"({"field":"a","eq":1})");
    EXPECT_CODE(stub->Delete(ctx().get(), d, &dresp), NOT_FOUND);
  }
  {
    pb::GetRequest g;
    g.set_collection("c");
    pb::Point p;
    EXPECT_CODE(stub->Get(ctx().get(), g, &p), INVALID_ARGUMENT);  // unset id
    g.mutable_id()->set_num(424242);
    EXPECT_CODE(stub->Get(ctx().get(), g, &p), NOT_FOUND);
    g.set_collection("nope");
    EXPECT_CODE(stub->Get(ctx().get(), g, &p), NOT_FOUND);
  }

  // Collections.
  EXPECT_CODE(create(*stub, "{bad json"), INVALID_ARGUMENT);
  EXPECT_CODE(create(*stub, R"({"name":"d","dim":0})"), INVALID_ARGUMENT);
  EXPECT_CODE(create(*stub, R"({"name":"d","dim":3,"metric":"hamming"})"), INVALID_ARGUMENT);
  EXPECT_CODE(create(*stub, R"({"name":"d","dim":3,"colour":1})"), INVALID_ARGUMENT);
  EXPECT_CODE(create(*stub, R"({"name":"c","dim":3})"), ALREADY_EXISTS);
  {
    pb::DescribeCollectionRequest d;
    d.set_name("nope");
    pb::CollectionInfo info;
    EXPECT_CODE(stub->DescribeCollection(ctx().get(), d, &info), NOT_FOUND);
    pb::DropCollectionRequest drop;
    drop.set_name("nope");
    pb::DropCollectionResponse dr;
    EXPECT_CODE(stub->DropCollection(ctx().get(), drop, &dr), NOT_FOUND);
  }
  pb::ListCollectionsResponse list;
  ASSERT_TRUE(stub->ListCollections(ctx().get(), pb::ListCollectionsRequest(), &list).ok());
  EXPECT_EQ(list.collections_size(), 1);
  EXPECT_EQ(live_of(*stub, "c"), 2u);
}

TEST(GrpcServerTest, OversizedMessageIsResourceExhausted) {
  GrpcServer::Options opts;
  opts.max_message_bytes = 64 << 10;
  Env env({}, opts);
  auto stub = env.stub();
  ASSERT_TRUE(create(*stub, R"({"name":"big","dim":4096})").ok());
  pb::UpsertRequest up;
  up.set_collection("big");
  for (uint64_t i = 0; i < 8; ++i) *up.add_points() = point(i, std::vector<float>(4096, 1.0f));
  pb::UpsertResponse ack;
  EXPECT_CODE(stub->Upsert(ctx().get(), up, &ack), RESOURCE_EXHAUSTED);
  pb::SearchResponse resp;
  pb::SearchRequest q = query("big", std::vector<float>(20000, 1.0f));
  EXPECT_CODE(stub->Search(ctx().get(), q, &resp), RESOURCE_EXHAUSTED);
  // Within the limit it works.
  up.mutable_points()->DeleteSubrange(1, 7);
  ASSERT_TRUE(stub->Upsert(ctx().get(), up, &ack).ok());
  EXPECT_EQ(live_of(*stub, "big"), 1u);
}

// ---- API keys and roles -----------------------------------------------------------------------

TEST(GrpcServerTest, KeysAndRoles) {
  ApiKeys keys({{"root", "admin-key", Role::kAdmin, {}},
                {"ingest", "write-key", Role::kWrite, {}},
                {"reader", "read-key", Role::kRead, {}},
                {"scoped", "scoped-key", Role::kAdmin, {"other"}}});
  Env env(keys);
  auto stub = env.stub();
  EXPECT_CODE(create(*stub, R"({"name":"c","dim":2})"), UNAUTHENTICATED);
  EXPECT_CODE(create(*stub, R"({"name":"c","dim":2})", "read-key"), PERMISSION_DENIED);
  EXPECT_CODE(create(*stub, R"({"name":"c","dim":2})", "write-key"), PERMISSION_DENIED);
  EXPECT_CODE(create(*stub, R"({"name":"c","dim":2})", "scoped-key"), PERMISSION_DENIED);
  ASSERT_TRUE(create(*stub, R"({"name":"c","dim":2})", "admin-key").ok());

  pb::UpsertRequest up;
  up.set_collection("c");
  *up.add_points() = point(1, {1, 2});
  pb::UpsertResponse ack;
  ASSERT_TRUE(stub->Upsert(ctx("write-key", /*x_api_key=*/true).get(), up, &ack).ok());

  // Every RPC refuses a missing, unknown or malformed key, and a role too small.
  const std::vector<std::string> bad_keys = {"", "nope-key"};
  for (const std::string& key : bad_keys) {
    SCOPED_TRACE(key);
    pb::ListCollectionsResponse list;
    EXPECT_CODE(stub->ListCollections(ctx(key).get(), pb::ListCollectionsRequest(), &list),
                UNAUTHENTICATED);
    pb::DescribeCollectionRequest d;
    d.set_name("c");
    pb::CollectionInfo info;
    EXPECT_CODE(stub->DescribeCollection(ctx(key).get(), d, &info), UNAUTHENTICATED);
    pb::DropCollectionRequest drop;
    drop.set_name("c");
    pb::DropCollectionResponse dr;
    EXPECT_CODE(stub->DropCollection(ctx(key).get(), drop, &dr), UNAUTHENTICATED);
    *up.mutable_points(0) = point(2, {3, 4});
    EXPECT_CODE(stub->Upsert(ctx(key).get(), up, &ack), UNAUTHENTICATED);
    {
      auto c = ctx(key);
      pb::UpsertResponse sack;
      auto writer = stub->UpsertStream(c.get(), &sack);
      writer->Write(up);
      writer->WritesDone();
      EXPECT_CODE(writer->Finish(), UNAUTHENTICATED);
    }
    pb::DeleteRequest del;
    del.set_collection("c");
    del.add_ids()->set_num(1);
    pb::DeleteResponse dresp;
    EXPECT_CODE(stub->Delete(ctx(key).get(), del, &dresp), UNAUTHENTICATED);
    pb::GetRequest g;
    g.set_collection("c");
    g.mutable_id()->set_num(1);
    pb::Point p;
    EXPECT_CODE(stub->Get(ctx(key).get(), g, &p), UNAUTHENTICATED);
    pb::SearchResponse sresp;
    EXPECT_CODE(stub->Search(ctx(key).get(), query("c", {1, 2}), &sresp), UNAUTHENTICATED);
    pb::SearchBatchRequest b;
    *b.add_queries() = query("c", {1, 2});
    pb::SearchBatchResponse bresp;
    EXPECT_CODE(stub->SearchBatch(ctx(key).get(), b, &bresp), UNAUTHENTICATED);
    pb::StatsResponse st;
    EXPECT_CODE(stub->Stats(ctx(key).get(), pb::StatsRequest(), &st), UNAUTHENTICATED);
  }
  {  // "authorization" must be a Bearer token
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Basic read-key");
    pb::SearchResponse sresp;
    EXPECT_CODE(stub->Search(&c, query("c", {1, 2}), &sresp), UNAUTHENTICATED);
  }

  // Readers read, and may not write or drop.
  pb::SearchResponse sresp;
  ASSERT_TRUE(stub->Search(ctx("read-key").get(), query("c", {1, 2}), &sresp).ok());
  EXPECT_EQ(sresp.points_size(), 1);
  *up.mutable_points(0) = point(2, {3, 4});
  EXPECT_CODE(stub->Upsert(ctx("read-key").get(), up, &ack), PERMISSION_DENIED);
  {
    auto c = ctx("read-key");
    pb::UpsertResponse sack;
    auto writer = stub->UpsertStream(c.get(), &sack);
    writer->Write(up);
    writer->WritesDone();
    EXPECT_CODE(writer->Finish(), PERMISSION_DENIED);
  }
  pb::DeleteRequest del;
  del.set_collection("c");
  del.set_filter_json(R"({"not":{"field":"x","exists":true}})");
  pb::DeleteResponse dresp;
  EXPECT_CODE(stub->Delete(ctx("read-key").get(), del, &dresp), PERMISSION_DENIED);
  pb::DropCollectionRequest drop;
  drop.set_name("c");
  pb::DropCollectionResponse dr;
  EXPECT_CODE(stub->DropCollection(ctx("read-key").get(), drop, &dr), PERMISSION_DENIED);
  EXPECT_CODE(stub->DropCollection(ctx("write-key").get(), drop, &dr), PERMISSION_DENIED);
  // A key limited to other collections sees nothing of this one.
  EXPECT_CODE(stub->Search(ctx("scoped-key").get(), query("c", {1, 2}), &sresp),
              PERMISSION_DENIED);
  EXPECT_CODE(stub->Upsert(ctx("scoped-key").get(), up, &ack), PERMISSION_DENIED);
  pb::ListCollectionsResponse list;
  ASSERT_TRUE(stub->ListCollections(ctx("scoped-key").get(), pb::ListCollectionsRequest(), &list).ok());
  EXPECT_EQ(list.collections_size(), 0);

  // Nothing of that changed anything.
  pb::DescribeCollectionRequest d;
  d.set_name("c");
  pb::CollectionInfo info;
  ASSERT_TRUE(stub->DescribeCollection(ctx("read-key").get(), d, &info).ok());
  EXPECT_EQ(info.live(), 1u);
  pb::GetRequest g;
  g.set_collection("c");
  g.mutable_id()->set_num(2);
  pb::Point p;
  EXPECT_CODE(stub->Get(ctx("read-key").get(), g, &p), NOT_FOUND);
}

// ---- TLS ----------------------------------------------------------------------------------------

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CA, a server certificate for "localhost" and a client certificate signed by it, and a
// self-signed client certificate from nobody the server trusts.
class Pki {
 public:
  Pki() {
    const std::string d = dir_.path();
    std::ofstream(d + "/server.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                        "extendedKeyUsage=serverAuth\n";
    std::ofstream(d + "/client.ext") << "extendedKeyUsage=clientAuth\n";
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "cd " + d + " && set -e && exec >openssl.log 2>&1 && " +
        "openssl req -x509" + key + " -keyout ca.key -out ca.crt -days 2 -subj /CN=vs-test-ca && " +
        "openssl req" + key + " -keyout server.key -out server.csr -subj /CN=localhost && " +
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile server.ext -out server.crt && " +
        "openssl req" + key + " -keyout client.key -out client.csr -subj /CN=vs-client && " +
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile client.ext -out client.crt && " +
        "openssl req -x509" + key + " -keyout rogue.key -out rogue.crt -days 2 -subj /CN=rogue";
    ok_ = std::system(("/bin/sh -c '" + script + "'").c_str()) == 0;
  }
  bool ok() const { return ok_; }
  std::string file(const std::string& name) const { return dir_ / name; }
  std::string pem(const std::string& name) const { return slurp(dir_ / name); }
  std::string log() const { return pem("openssl.log"); }

 private:
  TempDir dir_;
  bool ok_ = false;
};

std::unique_ptr<pb::Vecstream::Stub> tls_stub(int port, const Pki& pki, const std::string& who) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = pki.pem("ca.crt");
  if (!who.empty()) {
    o.pem_private_key = pki.pem(who + ".key");
    o.pem_cert_chain = pki.pem(who + ".crt");
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return pb::Vecstream::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o), args));
}

grpc::Status list_with(pb::Vecstream::Stub& stub) {
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::ListCollectionsResponse list;
  return stub.ListCollections(&c, pb::ListCollectionsRequest(), &list);
}

TEST(GrpcServerTest, MutualTls) {
  Pki pki;
  ASSERT_TRUE(pki.ok()) << pki.log();
  GrpcServer::Options opts;
  opts.tls_cert_file = pki.file("server.crt");
  opts.tls_key_file = pki.file("server.key");
  opts.client_ca_file = pki.file("ca.crt");
  Env env({}, opts);

  auto good = tls_stub(env.server->port(), pki, "client");
  grpc::Status s = list_with(*good);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(create(*good, R"({"name":"t","dim":2})").ok());

  auto no_cert = tls_stub(env.server->port(), pki, "");
  EXPECT_FALSE(list_with(*no_cert).ok());
  EXPECT_FALSE(create(*no_cert, R"({"name":"u","dim":2})").ok());
  auto rogue = tls_stub(env.server->port(), pki, "rogue");
  EXPECT_FALSE(list_with(*rogue).ok());
  EXPECT_FALSE(create(*rogue, R"({"name":"u","dim":2})").ok());
  auto plain = env.stub();
  EXPECT_FALSE(list_with(*plain).ok());

  pb::ListCollectionsResponse list;
  grpc::ClientContext c;
  ASSERT_TRUE(good->ListCollections(&c, pb::ListCollectionsRequest(), &list).ok());
  ASSERT_EQ(list.collections_size(), 1);  // only "t": the refused clients changed nothing
}

TEST(GrpcServerTest, ServerOnlyTls) {
  Pki pki;
  ASSERT_TRUE(pki.ok()) << pki.log();
  GrpcServer::Options opts;
  opts.tls_cert_file = pki.file("server.crt");
  opts.tls_key_file = pki.file("server.key");
  Env env({}, opts);
  auto anon = tls_stub(env.server->port(), pki, "");
  grpc::Status s = list_with(*anon);
  EXPECT_TRUE(s.ok()) << s.error_message();
  auto plain = env.stub();
  EXPECT_FALSE(list_with(*plain).ok());
}

// ---- start and stop ---------------------------------------------------------------------------

TEST(GrpcServerTest, StartErrors) {
  Env env;
  GrpcServer::Options o;
  o.address = env.target();  // in use
  auto s = GrpcServer::start(*env.service, ApiKeys(), o);
  EXPECT_FALSE(s.is_ok());

  o.address = "127.0.0.1:0";
  o.tls_cert_file = "/nonexistent/cert.pem";
  s = GrpcServer::start(*env.service, ApiKeys(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);  // no key file
  o.tls_key_file = "/nonexistent/key.pem";
  s = GrpcServer::start(*env.service, ApiKeys(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kIoError);
  GrpcServer::Options m;
  m.address = "127.0.0.1:0";
  m.client_ca_file = "/tmp/ca.pem";
  s = GrpcServer::start(*env.service, ApiKeys(), m);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

TEST(GrpcServerTest, StopEndsOpenStreamsAndRefusesNewCalls) {
  Env env;
  auto stub = env.stub();
  ASSERT_TRUE(create(*stub, R"({"name":"s","dim":2})").ok());
  pb::UpsertResponse ack;
  auto c = ctx();
  auto writer = stub->UpsertStream(c.get(), &ack);
  pb::UpsertRequest req;
  req.set_collection("s");
  *req.add_points() = point(1, {1, 2});
  ASSERT_TRUE(writer->Write(req));
  auto coll = env.catalog->get("s");
  ASSERT_TRUE(coll.is_ok());
  for (int i = 0; i < 2000 && !(*coll)->get(PointId::number(1)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE((*coll)->get(PointId::number(1)).has_value());
  auto sc = ctx();
  auto search_stream = stub->SearchStream(sc.get());
  pb::SearchStreamResponse first;
  ASSERT_TRUE(search_stream->Write(query("s", {1, 2}, 1)));
  ASSERT_TRUE(search_stream->Read(&first));
  EXPECT_FALSE(first.has_error());
  // The streams stay open: stop() waits out the grace period, then cancels them.
  const auto t0 = std::chrono::steady_clock::now();
  env.server->stop(std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_FALSE(writer->Finish().ok());
  pb::SearchStreamResponse more;
  EXPECT_FALSE(search_stream->Read(&more));
  EXPECT_FALSE(search_stream->Finish().ok());
  EXPECT_FALSE(list_with(*stub).ok());
  env.server->stop();  // again: nothing
}

}  // namespace
}  // namespace vecstream

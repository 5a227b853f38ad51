// EmbedServer over real gRPC on 127.0.0.1 with the generated stub: answers in request order,
// limits on documents, bytes and message size, bad documents, a full queue, graceful stop.
#include "embed/embed_server.h"

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "embed/embed_test_support.h"
#include "embed/hashing_embedder.h"
#include "embedding.grpc.pb.h"
#include "support/wait.h"

namespace vecstream {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<Embedder> hashing(size_t dim = 256) {
  HashingEmbedder::Options o;
  o.dim = dim;
  return std::shared_ptr<Embedder>(std::move(*HashingEmbedder::create(o)));
}

std::unique_ptr<EmbedServer> start(std::shared_ptr<Embedder> e, EmbedServer::Options o = {}) {
  o.address = "127.0.0.1:0";
  auto s = EmbedServer::start(std::move(e), o);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<embedding::EmbeddingService::Stub> stub_for(const EmbedServer& server) {
  return embedding::EmbeddingService::NewStub(
      grpc::CreateChannel(testing::loopback(server.port()), grpc::InsecureChannelCredentials()));
}

grpc::Status encode(embedding::EmbeddingService::Stub& stub, const std::vector<std::string>& docs,
                    embedding::EncodeResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  embedding::EncodeRequest req;
  for (const auto& d : docs) req.add_raw_documents(d);
  return stub.Encode(&ctx, req, resp);
}

TEST(EmbedServerTest, OptionsAreValidated) {
  auto rejects = [](std::shared_ptr<Embedder> e, EmbedServer::Options o, const char* what) {
    auto s = EmbedServer::start(std::move(e), o);
    ASSERT_FALSE(s.is_ok()) << what;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << what;
  };
  EmbedServer::Options o;
  o.address = "127.0.0.1:0";
  rejects(nullptr, o, "no embedder");
  o.max_pending_requests = 0;
  rejects(hashing(), o, "no queue");
  o = {};
  o.address = "127.0.0.1:0";
  o.max_documents_per_request = 0;
  rejects(hashing(), o, "no documents");
  o = {};
  o.address = "127.0.0.1:0";
  o.max_message_bytes = 1 << 20;  // 1024 vectors of 256 floats need ~1.1 MB
  auto s = EmbedServer::start(hashing(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("cannot hold the answer"), std::string::npos) << s.status().to_string();

  // A port in use is an error, not a shared port.
  auto first = start(hashing());
  ASSERT_NE(first, nullptr);
  o = {};
  o.address = testing::loopback(first->port());
  s = EmbedServer::start(hashing(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kIoError);
}

TEST(EmbedServerTest, AnswersInRequestOrder) {
  auto local = hashing();
  auto server = start(local);
  ASSERT_NE(server, nullptr);
  auto stub = stub_for(*server);
  const std::vector<std::string> docs = {"first document", "second document", "a third, different one"};
  embedding::EncodeResponse resp;
  grpc::Status st = encode(*stub, docs, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.vectors_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(resp.vectors(i).id(), std::to_string(i));
    auto want = local->embed_one(docs[static_cast<size_t>(i)]);
    ASSERT_TRUE(want.is_ok());
    EXPECT_EQ(std::vector<float>(resp.vectors(i).values().begin(), resp.vectors(i).values().end()), *want);
  }
  // No documents: an empty answer.
  resp.Clear();
  st = encode(*stub, {}, &resp);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(resp.vectors_size(), 0);
  EXPECT_EQ(server->stats().documents, 3u);
  EXPECT_EQ(server->embedder().dimension(), 256u);
}

TEST(EmbedServerTest, RequestLimitsAndBadDocuments) {
  EmbedServer::Options o;
  o.max_documents_per_request = 10;
  o.max_request_bytes = 1000;
  o.max_message_bytes = 64 << 10;
  auto server = start(hashing(), o);
  ASSERT_NE(server, nullptr);
  auto stub = stub_for(*server);
  embedding::EncodeResponse resp;

  grpc::Status st = encode(*stub, std::vector<std::string>(11, "doc"), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(),
            "request has 11 documents; this server takes at most 10 per request (split the batch)");

  st = encode(*stub, std::vector<std::string>(5, std::string(300, 'a')), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(),
            "request has 1500 bytes of documents; this server takes at most 1000 per request (split the batch)");

  st = encode(*stub, {std::string(100 << 10, 'a')}, &resp);  // above max_message_bytes: gRPC refuses
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  st = encode(*stub, {"fine", "broken \xc3"}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "document 1: document is not valid UTF-8 (byte 7)");
  EXPECT_EQ(resp.vectors_size(), 0);

  st = encode(*stub, {"fine", "   "}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "document 1: document is only whitespace");

  // At the limits exactly: accepted.
  resp.Clear();
  st = encode(*stub, std::vector<std::string>(10, std::string(100, 'b')), &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.vectors_size(), 10);

  const auto stats = server->stats();
  EXPECT_EQ(stats.refused_limits, 2u);
  EXPECT_EQ(stats.failed, 2u);
  EXPECT_EQ(stats.documents, 10u);
}

TEST(EmbedServerTest, FullQueueIsRefusedNotQueued) {
  auto slow = std::make_shared<testing::SlowEmbedder>(16, 400ms);
  EmbedServer::Options o;
  o.threads = 1;
  o.max_pending_requests = 1;
  auto server = start(slow, o);
  ASSERT_NE(server, nullptr);
  // Six callers at once: one runs, one waits, the rest are turned away at once.
  std::vector<grpc::Status> results(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = stub_for(*server);
      embedding::EncodeResponse resp;
      results[i] = encode(*stub, {"some text " + std::to_string(i)}, &resp);
    });
  }
  for (auto& t : threads) t.join();
  size_t ok = 0, busy = 0;
  for (const auto& r : results) {
    if (r.ok()) ++ok;
    if (r.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++busy;
      EXPECT_EQ(r.error_message(), "server busy: too many requests waiting; retry later");
    }
  }
  EXPECT_GE(ok, 1u);
  EXPECT_GE(busy, 1u);
  EXPECT_EQ(ok + busy, results.size());
  EXPECT_EQ(server->stats().refused_busy, busy);
  EXPECT_EQ(slow->calls.load(), static_cast<int>(ok));
}

TEST(EmbedServerTest, StopLetsCallsInFlightFinish) {
  auto slow = std::make_shared<testing::SlowEmbedder>(16, 300ms);
  auto server = start(slow);
  ASSERT_NE(server, nullptr);
  auto stub = stub_for(*server);
  grpc::Status in_flight;
  std::thread caller([&] {
    embedding::EncodeResponse resp;
    in_flight = encode(*stub, {"finish me"}, &resp);
  });
  ASSERT_TRUE(testing::wait_until([&] { return slow->calls.load() == 1; }));
  server->stop(5s);
  caller.join();
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
  embedding::EncodeResponse resp;
  const grpc::Status after = encode(*stub, {"too late"}, &resp);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAVAILABLE);
  server->stop();  // again: nothing
}

}  // namespace
}  // namespace vecstream

// RemoteEmbedder against a real EmbedServer on 127.0.0.1 (ephemeral ports): same vectors as the
// server's embedder, batching (within and across calls), concurrent callers, a server that is
// down (and one that comes back), a slow server, a wrong dimension, refused requests.
#include "embed/remote_embedder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "embed/embed_server.h"
#include "embed/embed_test_support.h"
#include "embed/hashing_embedder.h"
#include "embed/wordnet.h"

namespace vecstream {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::shared_ptr<HashingEmbedder> hashing(size_t dim = 256) {
  HashingEmbedder::Options o;
  o.dim = dim;
  return std::shared_ptr<HashingEmbedder>(std::move(*HashingEmbedder::create(o)));
}

std::unique_ptr<EmbedServer> serve(std::shared_ptr<Embedder> e, EmbedServer::Options o = {}) {
  if (o.address == EmbedServer::Options{}.address) o.address = "127.0.0.1:0";
  auto s = EmbedServer::start(std::move(e), o);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(*s) : nullptr;
}

RemoteEmbedder::Options client_options(int port, size_t dim = 256) {
  RemoteEmbedder::Options o;
  o.target = testing::loopback(port);
  o.dim = dim;
  o.timeout = 10s;
  o.attempt_timeout = 5s;
  return o;
}

std::unique_ptr<RemoteEmbedder> connect(const RemoteEmbedder::Options& o) {
  auto r = RemoteEmbedder::create(o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(*r) : nullptr;
}

// Glosses when WordNet is there, numbered sentences otherwise.
std::vector<std::string> documents(size_t n) {
  std::vector<std::string> out;
  for (const auto& s : testing::load_noun_synsets(n)) out.push_back(s.gloss);
  for (size_t i = out.size(); i < n; ++i) out.push_back("synthetic document number " + std::to_string(i));
  return out;
}

std::vector<float> embed_local(Embedder& e, const std::vector<std::string_view>& texts) {
  std::vector<float> out(texts.size() * e.dimension());
  EXPECT_TRUE(e.embed(texts, out).is_ok());
  return out;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST(RemoteEmbedderTest, OptionsAreValidated) {
  auto rejects = [](RemoteEmbedder::Options o, const char* what) {
    auto r = RemoteEmbedder::create(o);
    ASSERT_FALSE(r.is_ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << what;
  };
  RemoteEmbedder::Options base;
  base.dim = 8;
  auto o = base;
  o.target.clear();
  rejects(o, "no target");
  o = base;
  o.max_batch_documents = 0;
  rejects(o, "empty batches");
  o = base;
  o.max_document_bytes = o.max_batch_bytes + 1;
  rejects(o, "a document larger than a batch");
  o = base;
  o.max_in_flight = 0;
  rejects(o, "nothing in flight");
  o = base;
  o.max_queued_documents = o.max_batch_documents - 1;
  rejects(o, "queue smaller than a batch");
  o = base;
  o.timeout = 0ms;
  rejects(o, "no time");
  o = base;
  o.max_attempts = 0;
  rejects(o, "no attempt");
  o = base;
  o.initial_backoff = 5s;
  o.max_backoff = 1s;
  rejects(o, "backoff range");
  o = base;
  o.backoff_multiplier = 0.5;
  rejects(o, "shrinking backoff");
  o = base;
  o.dim = 100000;
  rejects(o, "dimension");
  // Valid options do not contact the server when dim is given.
  auto r = RemoteEmbedder::create(base);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ((*r)->dimension(), 8u);
  EXPECT_EQ((*r)->name(), "remote(127.0.0.1:50052)");
}

TEST(RemoteEmbedderTest, SameVectorsAsTheServersEmbedder) {
  auto local = hashing();
  auto server = serve(local);
  ASSERT_NE(server, nullptr);
  auto o = client_options(server->port(), /*dim=*/0);  // ask the server
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  EXPECT_EQ(remote->dimension(), 256u);
  const auto docs = documents(300);
  const std::vector<std::string_view> texts(docs.begin(), docs.end());
  std::vector<float> got(texts.size() * 256);
  ASSERT_TRUE(remote->embed(texts, got).is_ok());
  EXPECT_EQ(got, embed_local(*local, texts));  // floats travel exactly
  auto one = remote->embed_one("a single query");
  ASSERT_TRUE(one.is_ok()) << one.status().to_string();
  EXPECT_EQ(*one, *local->embed_one("a single query"));
}

TEST(RemoteEmbedderTest, LargeCallsAreSplitIntoBatches) {
  auto local = hashing();
  auto server = serve(local);
  ASSERT_NE(server, nullptr);
  auto remote = connect(client_options(server->port()));
  ASSERT_NE(remote, nullptr);
  const auto docs = documents(1000);
  const std::vector<std::string_view> texts(docs.begin(), docs.end());
  std::vector<float> got(texts.size() * 256);
  ASSERT_TRUE(remote->embed(texts, got).is_ok());
  EXPECT_EQ(got, embed_local(*local, texts));
  EXPECT_EQ(remote->stats().requests, 4u);  // 256 + 256 + 256 + 232
  EXPECT_EQ(server->stats().requests, 4u);
  EXPECT_EQ(server->stats().documents, 1000u);

  // A byte budget splits too: 40 documents of 1000 bytes with 10 000 bytes per request.
  auto o = client_options(server->port());
  o.max_batch_bytes = 10000;
  o.max_document_bytes = 5000;
  auto small = connect(o);
  ASSERT_NE(small, nullptr);
  std::vector<std::string> big;
  for (int i = 0; i < 40; ++i) big.push_back(std::string(990, 'a' + i % 26) + " " + std::to_string(1000 + i));
  const std::vector<std::string_view> big_texts(big.begin(), big.end());
  std::vector<float> out(big.size() * 256);
  ASSERT_TRUE(small->embed(big_texts, out).is_ok());
  EXPECT_EQ(small->stats().requests, 4u);
}

TEST(RemoteEmbedderTest, SmallCallsShareRequests) {
  auto local = hashing();
  auto server = serve(local);
  ASSERT_NE(server, nullptr);
  auto o = client_options(server->port());
  o.batch_linger = 300ms;  // the time budget to fill a request
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  constexpr size_t kCallers = 16;
  std::vector<std::vector<float>> got(kCallers);
  std::vector<std::thread> threads;
  std::atomic<size_t> arrived{0};
  for (size_t i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      arrived.fetch_add(1);
      while (arrived.load() < kCallers) std::this_thread::yield();
      auto v = remote->embed_one("caller number " + std::to_string(i));
      if (v.is_ok()) got[i] = std::move(*v);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < kCallers; ++i) EXPECT_EQ(got[i], *local->embed_one("caller number " + std::to_string(i)));
  EXPECT_LT(remote->stats().requests, kCallers);  // one request each would be 16
  EXPECT_EQ(remote->stats().documents, kCallers);
}

TEST(RemoteEmbedderTest, ManyConcurrentCallers) {
  auto local = hashing();
  auto server = serve(local);
  ASSERT_NE(server, nullptr);
  auto o = client_options(server->port());
  o.max_in_flight = 3;  // fewer than the callers: some wait for a slot
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  const auto docs = documents(700);
  const std::vector<std::string_view> texts(docs.begin(), docs.end());
  const auto expected = embed_local(*local, texts);
  std::atomic<size_t> failures{0}, embedded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int round = 0; round < 5; ++round) {
        const size_t first = rng() % 400, count = 1 + rng() % 300;
        std::span<const std::string_view> part(texts.data() + first, count);
        std::vector<float> out(count * 256);
        Status s = remote->embed(part, out);
        if (!s.is_ok() || !std::equal(out.begin(), out.end(), expected.begin() + first * 256)) {
          failures.fetch_add(1);
        }
        embedded.fetch_add(count);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(remote->stats().documents, embedded.load());
  EXPECT_EQ(remote->stats().retries, 0u);
}

TEST(RemoteEmbedderTest, ServerDownFailsAfterRetriesInBoundedTime) {
  auto o = client_options(testing::unused_port());
  o.max_attempts = 4;
  o.initial_backoff = 20ms;
  o.max_backoff = 200ms;
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  const auto t0 = Clock::now();
  auto v = remote->embed_one("nobody is listening");
  const double took = seconds_since(t0);
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().code(), StatusCode::kIoError);
  EXPECT_NE(v.status().message().find("embedding server " + o.target + ": UNAVAILABLE"), std::string::npos)
      << v.status().to_string();
  EXPECT_NE(v.status().message().find("gave up after 4 attempts"), std::string::npos) << v.status().to_string();
  EXPECT_LT(took, 3.0);
  EXPECT_EQ(remote->stats().requests, 4u);
  EXPECT_EQ(remote->stats().retries, 3u);
  EXPECT_EQ(remote->stats().failed_requests, 1u);

  // The dimension probe fails the same way, in create().
  o.dim = 0;
  auto probe = RemoteEmbedder::create(o);
  ASSERT_FALSE(probe.is_ok());
  EXPECT_EQ(probe.status().code(), StatusCode::kIoError);
  EXPECT_NE(probe.status().message().find("dimension probe"), std::string::npos) << probe.status().to_string();
}

TEST(RemoteEmbedderTest, RetriesReachAServerThatComesBack) {
  const int port = testing::unused_port();
  auto o = client_options(port);
  o.max_attempts = 10;
  o.initial_backoff = 100ms;
  o.max_backoff = 400ms;
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  Result<std::vector<float>> v = Status::internal("not run");
  std::thread caller([&] { v = remote->embed_one("wait for me"); });
  std::this_thread::sleep_for(300ms);  // the first attempts fail: nothing listens yet
  EmbedServer::Options so;
  so.address = testing::loopback(port);
  auto local = hashing();
  auto server = serve(local, so);
  caller.join();  // before any ASSERT: a joinable thread left behind would terminate the test
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_EQ(*v, *local->embed_one("wait for me"));
  EXPECT_GE(remote->stats().retries, 1u);
}

TEST(RemoteEmbedderTest, SlowServerHitsTheDeadline) {
  auto slow = std::make_shared<testing::SlowEmbedder>(256, 800ms);
  EmbedServer::Options so;
  so.threads = 4;
  auto server = serve(slow, so);
  ASSERT_NE(server, nullptr);
  auto o = client_options(server->port());
  o.timeout = 400ms;
  o.attempt_timeout = 150ms;
  o.initial_backoff = 20ms;
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  const auto t0 = Clock::now();
  auto v = remote->embed_one("too slow");
  const double took = seconds_since(t0);
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().code(), StatusCode::kIoError);
  EXPECT_NE(v.status().message().find("DEADLINE_EXCEEDED"), std::string::npos) << v.status().to_string();
  EXPECT_LT(took, 0.8);
  EXPECT_GE(remote->stats().retries, 1u);  // attempts of 150 ms, retried within the 400 ms

  // With time enough, the same server answers.
  o.timeout = 5s;
  o.attempt_timeout = 3s;
  auto patient = connect(o);
  ASSERT_NE(patient, nullptr);
  v = patient->embed_one("slow but fine");
  EXPECT_TRUE(v.is_ok()) << v.status().to_string();
}

TEST(RemoteEmbedderTest, WrongDimensionIsDetected) {
  auto server = serve(hashing(64));
  ASSERT_NE(server, nullptr);
  auto remote = connect(client_options(server->port(), 256));
  ASSERT_NE(remote, nullptr);
  auto v = remote->embed_one("what dimension is this?");
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(v.status().message(), "embedding server " + testing::loopback(server->port()) +
                                      " returned vectors of dimension 64; this embedder expects 256");
  EXPECT_EQ(remote->stats().retries, 0u);  // an answer, not a transport failure: final
}

TEST(RemoteEmbedderTest, OversizedRequestsAreRefused) {
  EmbedServer::Options so;
  so.max_documents_per_request = 100;
  so.max_request_bytes = 2000;
  auto server = serve(hashing(), so);
  ASSERT_NE(server, nullptr);
  auto remote = connect(client_options(server->port()));  // batches of up to 256
  ASSERT_NE(remote, nullptr);
  const auto docs = documents(150);
  std::vector<std::string_view> texts(docs.begin(), docs.end());
  std::vector<float> out(texts.size() * 256);
  Status s = remote->embed(texts, out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("request has 150 documents; this server takes at most 100"), std::string::npos)
      << s.to_string();
  EXPECT_EQ(remote->stats().retries, 0u);

  // Within the document count but above the server's byte limit.
  texts.resize(40);
  out.resize(40 * 256);
  s = remote->embed(texts, out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("bytes of documents"), std::string::npos) << s.to_string();

  // Above the client's own document limit: refused before anything is sent.
  auto o = client_options(server->port());
  o.max_document_bytes = 100;
  auto strict = connect(o);
  ASSERT_NE(strict, nullptr);
  auto v = strict->embed_one(std::string(101, 'z'));
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().message(), "document 0: document is 101 bytes; the limit is 100");
  EXPECT_EQ(strict->stats().requests, 0u);

  // More documents than may wait at once.
  o = client_options(server->port());
  o.max_queued_documents = 300;
  auto bounded = connect(o);
  ASSERT_NE(bounded, nullptr);
  std::vector<std::string> many(400, "x");
  const std::vector<std::string_view> many_texts(many.begin(), many.end());
  std::vector<float> many_out(400 * 256);
  s = bounded->embed(many_texts, many_out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("max_queued_documents (300)"), std::string::npos) << s.to_string();
}

TEST(RemoteEmbedderTest, BadDocumentsAreRejectedAloneInPerDocumentCalls) {
  auto local = hashing();
  auto server = serve(local);
  ASSERT_NE(server, nullptr);
  auto remote = connect(client_options(server->port()));
  ASSERT_NE(remote, nullptr);
  const std::vector<std::string_view> texts = {"good one", "bad \xff", "", "good two"};
  std::vector<float> out(texts.size() * 256, -1);
  std::vector<Status> st(texts.size());
  Status s = remote->embed(texts, out, st);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "2 of 4 documents rejected; first: document 1: document is not valid UTF-8 (byte 4)");
  EXPECT_TRUE(st[0].is_ok());
  EXPECT_TRUE(st[3].is_ok());
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 256, local->embed_one("good one")->begin()));
  EXPECT_TRUE(std::equal(out.begin() + 3 * 256, out.end(), local->embed_one("good two")->begin()));
  EXPECT_EQ(std::vector<float>(out.begin() + 256, out.begin() + 3 * 256), std::vector<float>(512, 0.0f));
  EXPECT_EQ(server->stats().documents, 2u);  // only the good ones travelled
}

TEST(RemoteEmbedderTest, DestroyedRightAfterACallGaveUp) {
  // The call gives up at its deadline; its attempt ends at the same moment, on a gRPC thread,
  // possibly after the call has returned. Destroying the embedder then must cancel and wait for
  // whatever is still out, and never write into the abandoned output.
  auto slow = std::make_shared<testing::SlowEmbedder>(256, 600ms);
  EmbedServer::Options so;
  so.threads = 2;
  auto server = serve(slow, so);
  ASSERT_NE(server, nullptr);
  auto o = client_options(server->port());
  o.timeout = 100ms;
  auto remote = connect(o);
  ASSERT_NE(remote, nullptr);
  {
    std::vector<float> out(256, -1);
    const std::string_view texts[1] = {"abandoned"};
    Status s = remote->embed(texts, out);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), StatusCode::kIoError);
    EXPECT_NE(s.message().find("DEADLINE_EXCEEDED"), std::string::npos) << s.to_string();
  }  // `out` is gone: a late answer would be a use after free (ASan)
  const auto t0 = Clock::now();
  remote.reset();
  EXPECT_LT(seconds_since(t0), 0.5);
}

TEST(RemoteEmbedderTest, DestructorWaitsForCallbacksStillReturning) {
  // An attempt's callback wakes its callers before it returns, and gRPC drops the attempt's
  // ClientContext, which co-owns the channel, only after that. The destructor must wait for it:
  // were the channel released last on the callback's own thread, gRPC would shut its callback
  // queue down from one of that queue's threads, which then reads it freed and aborts
  // ("ref_counted.h: assertion failed: prior > 0"). That needs nothing else in the process to
  // hold the queue (no server here), as in a program's last call before exit. The hook keeps
  // each callback running for a while after it woke its callers, so a destructor that did not
  // wait for it would return at once.
  struct Delay {
    Delay() { TEST_remote_embedder_callback_delay(200ms); }
    ~Delay() { TEST_remote_embedder_callback_delay(0us); }
  } delay;
  const int port = testing::unused_port();
  for (int round = 0; round < 2; ++round) {
    auto o = client_options(port);
    o.batch_linger = 0ms;
    o.max_attempts = 2;
    o.initial_backoff = 1ms;
    o.max_backoff = 1ms;
    auto remote = connect(o);
    ASSERT_NE(remote, nullptr);
    auto v = remote->embed_one("nobody is listening");
    ASSERT_FALSE(v.is_ok());
    EXPECT_NE(v.status().message().find("gave up after 2 attempts"), std::string::npos)
        << v.status().to_string();
    const auto t0 = Clock::now();
    remote.reset();
    EXPECT_GT(seconds_since(t0), 0.05);  // it waited for the callback that woke the call
  }
}

}  // namespace
}  // namespace vecstream

// Service: the result cache answers a repeated search, an upsert in between changes the key (never
// a stale hit), streaming bypasses the micro-batcher, concurrent searches batch, and /metrics
// carries every name of DESIGN.md's Metrics section after some traffic; text queries go through
// the embedder.
#include "serve/service.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "embed/hashing_embedder.h"
#include "obs/metrics.h"
#include "serve/lru_cache.h"
#include "serve/query_batcher.h"
#include "serve/redis_cache.h"
#include "serve/tiered_cache.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

constexpr size_t kDim = 8;

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<Catalog> catalog;
  obs::MetricsRegistry registry;
  LruCache cache;
  std::unique_ptr<Service> service;
  Principal admin;

  explicit Fixture(ServiceOptions o = {}) {
    auto c = Catalog::open(dir.path());
    EXPECT_TRUE(c.is_ok());
    catalog = std::move(*c);
    service = std::make_unique<Service>(*catalog, o, &registry, &cache);
    EXPECT_TRUE(service->create_collection(admin, {{"name", "c"}, {"dim", kDim}, {"fsync", "none"}})
                    .is_ok());
    std::vector<PointWrite> pts;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uni(0.0f, 1.0f);
    for (int i = 0; i < 100; ++i) {
      std::vector<float> v(kDim);
      for (float& x : v) x = uni(rng);
      pts.push_back(PointWrite{PointId::number(i), v, {{"i", i}}});
    }
    EXPECT_TRUE(service->upsert(admin, "c", std::move(pts)).is_ok());
    // Searches compared with each other must see one index state.
    (*catalog->get("c"))->wait_indexed();
  }
  ~Fixture() {
    service.reset();
    (void)catalog->close();
  }
};

SearchRequest request(std::vector<float> v, size_t k = 5) {
  SearchRequest r;
  r.collection = std::string(1, 'c');  // not = "c": GCC 12 -O3 reports a false -Wrestrict
  r.vector = std::move(v);
  r.k = k;
  return r;
}

TEST(ServiceTest, RepeatedSearchHitsTheCacheAndAnUpsertChangesTheKey) {
  Fixture f;
  const std::vector<float> v(kDim, 0.9f);
  auto r1 = f.service->search(f.admin, request(v));
  ASSERT_TRUE(r1.is_ok()) << r1.status().to_string();
  EXPECT_FALSE(r1->cached);
  auto r2 = f.service->search(f.admin, request(v));
  ASSERT_TRUE(r2.is_ok());
  EXPECT_TRUE(r2->cached);
  ASSERT_EQ(r1->points.size(), r2->points.size());
  for (size_t i = 0; i < r1->points.size(); ++i) {
    EXPECT_EQ(r1->points[i].id, r2->points[i].id);
    EXPECT_EQ(r1->points[i].distance, r2->points[i].distance);
  }
  // The query vector itself becomes a point: the very next identical search must show it.
  ASSERT_TRUE(f.service->upsert(f.admin, "c", {PointWrite{PointId::number(1000), v, nullptr}}).is_ok());
  auto r3 = f.service->search(f.admin, request(v));
  ASSERT_TRUE(r3.is_ok());
  EXPECT_FALSE(r3->cached);
  ASSERT_FALSE(r3->points.empty());
  EXPECT_EQ(r3->points[0].id, PointId::number(1000));
  EXPECT_EQ(r3->points[0].distance, 0.0f);
  // A delete changes it again.
  ASSERT_TRUE(f.service->remove(f.admin, "c", {PointId::number(1000)}).is_ok());
  auto r4 = f.service->search(f.admin, request(v));
  ASSERT_TRUE(r4.is_ok());
  EXPECT_FALSE(r4->cached);
  EXPECT_NE(r4->points[0].id, PointId::number(1000));
  // use_cache = false neither reads nor fills the cache.
  SearchRequest nc = request(std::vector<float>(kDim, 0.1f));
  nc.use_cache = false;
  ASSERT_TRUE(f.service->search(f.admin, nc).is_ok());
  EXPECT_FALSE(f.service->search(f.admin, nc)->cached);
}

// What a transport may run on its event thread: only searches that wait on nothing but the CPU.
TEST(ServiceTest, SearchNeverWaitsOnlyWithoutBatchWindowRemoteCacheOrEmbedder) {
  testing::TempDir dir;
  auto catalog = Catalog::open(dir.path());
  ASSERT_TRUE(catalog.is_ok());
  ServiceOptions off;
  off.batch_window = std::chrono::microseconds(0);
  LruCache lru;
  RedisCacheOptions ro;
  ro.port = 1;  // never contacted: does_io() is what the cache is, not whether it is up
  RedisCache redis(ro);
  TieredCache tiered(std::make_unique<LruCache>(), std::make_unique<RedisCache>(ro));
  {
    Service s(**catalog, off, nullptr, &lru);
    EXPECT_TRUE(s.search_never_waits(false, true, false));
    EXPECT_FALSE(s.search_never_waits(false, true, /*text=*/true));
  }
  {
    Service s(**catalog, ServiceOptions{}, nullptr, nullptr);  // batching on by default
    EXPECT_FALSE(s.search_never_waits(false, false, false));
    EXPECT_TRUE(s.search_never_waits(/*streaming=*/true, false, false));
  }
  for (ResultCache* remote : {static_cast<ResultCache*>(&redis), static_cast<ResultCache*>(&tiered)}) {
    Service s(**catalog, off, nullptr, remote);
    EXPECT_FALSE(s.search_never_waits(false, /*use_cache=*/true, false));
    EXPECT_TRUE(s.search_never_waits(false, /*use_cache=*/false, false));
  }
  EXPECT_TRUE((*catalog)->close().is_ok());
}

TEST(ServiceTest, StreamingBypassesTheBatcherAndConcurrentSearchesBatch) {
  ServiceOptions o;
  o.batch_window = std::chrono::microseconds(2000);
  o.batch_max = 8;
  o.batch_wait_when_idle = true;
  Fixture f(o);
  ASSERT_NE(f.service->batcher(), nullptr);
  SearchRequest s = request(std::vector<float>(kDim, 0.3f));
  s.streaming = true;
  s.use_cache = false;
  ASSERT_TRUE(f.service->search(f.admin, s).is_ok());
  EXPECT_EQ(f.service->batcher()->stats().queries, 0u);
  s.streaming = false;
  ASSERT_TRUE(f.service->search(f.admin, s).is_ok());
  EXPECT_EQ(f.service->batcher()->stats().queries, 1u);

  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        SearchRequest r = request(std::vector<float>(kDim, 0.01f * static_cast<float>(t * 40 + i)));
        r.use_cache = false;
        auto a = f.service->search(f.admin, r);
        r.streaming = true;
        auto b = f.service->search(f.admin, r);
        if (!a.is_ok() || !b.is_ok() || a->points.size() != b->points.size()) {
          ++bad;
          continue;
        }
        for (size_t j = 0; j < a->points.size(); ++j) {
          if (!(a->points[j].id == b->points[j].id)) ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  QueryBatcherStats st = f.service->batcher()->stats();
  EXPECT_EQ(st.queries, 1u + 8 * 40);
  EXPECT_GT(st.max_batch, 1u);
}

TEST(ServiceTest, SearchBatchMatchesSingleSearches) {
  Fixture f;
  std::vector<SearchRequest> reqs;
  for (int i = 0; i < 10; ++i) reqs.push_back(request(std::vector<float>(kDim, 0.1f * i), 3));
  reqs[3].k = 7;  // another group of knobs
  auto batch = f.service->search_batch(f.admin, reqs);
  ASSERT_TRUE(batch.is_ok()) << batch.status().to_string();
  ASSERT_EQ(batch->size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    SearchRequest r = reqs[i];
    r.use_cache = false;
    auto one = f.service->search(f.admin, r);
    ASSERT_TRUE(one.is_ok());
    ASSERT_EQ((*batch)[i].points.size(), one->points.size());
    for (size_t j = 0; j < one->points.size(); ++j) EXPECT_EQ((*batch)[i].points[j].id, one->points[j].id);
  }
  // The batch filled the cache.
  EXPECT_TRUE(f.service->search(f.admin, reqs[5])->cached);
  reqs[4].vector.pop_back();
  EXPECT_EQ(f.service->search_batch(f.admin, reqs).status().code(), StatusCode::kInvalidArgument);
}

TEST(ServiceTest, MetricsAfterTraffic) {
  Fixture f;
  const std::vector<float> v(kDim, 0.5f);
  ASSERT_TRUE(f.service->search(f.admin, request(v)).is_ok());
  ASSERT_TRUE(f.service->search(f.admin, request(v)).is_ok());
  // The delete changes the write epoch: the batch below misses for v too.
  ASSERT_TRUE(f.service->remove(f.admin, "c", {PointId::number(1), PointId::number(2)}).is_ok());
  EXPECT_EQ(f.service->search(f.admin, request({1, 2})).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(f.service->describe_collection(f.admin, "nope").status().code(), StatusCode::kNotFound);
  std::vector<SearchRequest> reqs = {request(v), request(std::vector<float>(kDim, 0.2f))};
  ASSERT_TRUE(f.service->search_batch(f.admin, reqs).is_ok());

  const std::string text = f.registry.expose();
  for (const char* name :
       {"vecstream_query_duration_seconds_bucket{collection=\"c\"", "vecstream_queries_total{collection=\"c\"} 4",
        "vecstream_upserted_points_total{collection=\"c\"} 100",
        "vecstream_deleted_points_total{collection=\"c\"} 2",
        "vecstream_errors_total{kind=\"INVALID_ARGUMENT\"} 1",
        "vecstream_errors_total{kind=\"NOT_FOUND\"} 1", "vecstream_cache_hits_total 1",
        "vecstream_cache_misses_total 3", "vecstream_query_batch_size_count",
        "vecstream_segments{collection=\"c\"}", "vecstream_points{collection=\"c\"} 98",
        "vecstream_deleted_points{collection=\"c\"}", "vecstream_tombstone_ratio{collection=\"c\"}",
        "vecstream_wal_bytes{collection=\"c\"}", "vecstream_unindexed_points{collection=\"c\"}",
        "vecstream_memory_bytes{collection=\"c\"}"}) {
    EXPECT_NE(text.find(name), std::string::npos) << "missing " << name << " in\n" << text;
  }
  // Destroying the Service removes its scrape-time gauges (they read its catalog).
  f.service.reset();
  EXPECT_EQ(f.registry.expose().find("vecstream_points{"), std::string::npos);
}


// Text queries: the service embeds the text with its embedder and searches with the vector, so a
// document's own text finds it first; single and batch; and every way to get it wrong.
TEST(ServiceTest, TextQueriesGoThroughTheEmbedder) {
  testing::TempDir dir;
  auto cat = Catalog::open(dir.path());
  ASSERT_TRUE(cat.is_ok());
  HashingEmbedder::Options eo;
  eo.dim = 256;
  auto embedder = HashingEmbedder::create(eo);
  ASSERT_TRUE(embedder.is_ok()) << embedder.status().to_string();
  Principal admin;
  {
    Service service(**cat, {}, nullptr, nullptr, embedder->get());
    ASSERT_TRUE(service.create_collection(admin, {{"name", "docs"}, {"dim", 256}, {"metric", "cosine"},
                                                  {"fsync", "none"}})
                    .is_ok());
    ASSERT_TRUE(service.create_collection(admin, {{"name", "small"}, {"dim", 8}, {"fsync", "none"}}).is_ok());
    const std::vector<std::string> docs = {
        "the cat sat on the mat", "stock markets fell sharply on friday",
        "a recipe for sourdough bread", "the football team won the final",
        "new telescope images of a distant galaxy"};
    std::vector<PointWrite> pts;
    for (size_t i = 0; i < docs.size(); ++i) {
      auto v = (*embedder)->embed_one(docs[i]);
      ASSERT_TRUE(v.is_ok());
      pts.push_back(PointWrite{PointId::number(i), *v, {{"text", docs[i]}}});
    }
    ASSERT_TRUE(service.upsert(admin, "docs", std::move(pts)).is_ok());
    for (size_t i = 0; i < docs.size(); ++i) {
      SearchRequest r;
      r.collection = "docs";
      r.text = docs[i];
      r.k = 1;
      auto res = service.search(admin, r);
      ASSERT_TRUE(res.is_ok()) << res.status().to_string();
      ASSERT_EQ(res->points.size(), 1u);
      EXPECT_EQ(res->points[0].id, PointId::number(i)) << docs[i];
    }
    // A related query, not the document itself, still lands on it (the hashing embedder is
    // lexical and has no stop words: a query sharing only "the" with a document scores close).
    SearchRequest related;
    related.collection = "docs";
    related.text = "galaxy images from a new telescope";
    related.k = 1;
    auto rel = service.search(admin, related);
    ASSERT_TRUE(rel.is_ok());
    EXPECT_EQ(rel->points[0].id, PointId::number(4));

    // A batch mixing text and vector queries answers each like a single search.
    std::vector<SearchRequest> batch(2);
    batch[0].collection = batch[1].collection = "docs";
    batch[0].text = docs[2];
    batch[1].vector = *(*embedder)->embed_one(docs[3]);
    batch[0].k = batch[1].k = 1;
    auto b = service.search_batch(admin, batch);
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    EXPECT_EQ((*b)[0].points[0].id, PointId::number(2));
    EXPECT_EQ((*b)[1].points[0].id, PointId::number(3));

    auto code_of = [&](SearchRequest r) { return service.search(admin, r).status(); };
    SearchRequest both = related;
    both.vector.assign(256, 0.5f);
    EXPECT_NE(code_of(both).message().find("not both"), std::string::npos);
    SearchRequest wrong_dim = related;
    wrong_dim.collection = "small";
    Status wd = code_of(wrong_dim);
    EXPECT_EQ(wd.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(wd.message().find("dimension 256"), std::string::npos) << wd.to_string();
    SearchRequest blank = related;
    blank.text = "   ";
    Status bl = code_of(blank);
    EXPECT_EQ(bl.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(bl.message().rfind("text: ", 0), 0u) << bl.to_string();
    SearchRequest bad_utf8 = related;
    bad_utf8.text = "caf\xc3";
    EXPECT_EQ(code_of(bad_utf8).code(), StatusCode::kInvalidArgument);
    batch[1].text = "   ";
    auto bad_batch = service.search_batch(admin, batch);
    ASSERT_FALSE(bad_batch.is_ok());
    EXPECT_EQ(bad_batch.status().message().rfind("queries[1]: ", 0), 0u) << bad_batch.status().to_string();
  }
  {
    Service none(**cat, {}, nullptr, nullptr);  // no embedder
    SearchRequest r;
    r.collection = "docs";
    r.text = "the cat";
    Status st = none.search(admin, r).status();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("need an embedder"), std::string::npos) << st.to_string();
  }
  ASSERT_TRUE((*cat)->close().is_ok());
}

}  // namespace
}  // namespace vecstream

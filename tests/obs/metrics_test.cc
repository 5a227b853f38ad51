// MetricsRegistry: exposition format (golden text), escaping, histogram bucket math, label
// families, callback metrics, name validation, concurrency, and `promtool check metrics`.
#include "obs/metrics.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "obs/text.h"
#include "support/temp_dir.h"

namespace vecstream::obs {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The value of a Result the test cannot go on without.
template <typename T>
T must(Result<T> r) {
  if (!r.is_ok()) {
    ADD_FAILURE() << r.status().to_string();
    std::abort();
  }
  return *r;
}

// ---------------------------------------------------------------------------------------------
// Exposition format.

TEST(MetricsExposeTest, EmptyRegistryExposesNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.expose(), "");
}

TEST(MetricsExposeTest, CounterAndGaugeGolden) {
  MetricsRegistry registry;
  Gauge* depth = must(registry.gauge("vecstream_queue_depth", "Items waiting."));
  Counter* hits = must(registry.counter("vecstream_cache_hits_total", "Cache hits."));
  hits->inc();
  hits->inc(2);
  depth->set(4);
  depth->sub(1.5);
  // Families come out sorted by name, whatever the order of registration.
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_cache_hits_total Cache hits.\n"
            "# TYPE vecstream_cache_hits_total counter\n"
            "vecstream_cache_hits_total 3\n"
            "# HELP vecstream_queue_depth Items waiting.\n"
            "# TYPE vecstream_queue_depth gauge\n"
            "vecstream_queue_depth 2.5\n");
}

TEST(MetricsExposeTest, CounterMixesIntegerAndFloatingAdds) {
  MetricsRegistry registry;
  Counter* c = must(registry.counter("vecstream_work_seconds_total", "Busy time."));
  c->inc(2);
  c->add(0.25);
  c->add(-1.0);  // ignored: counters never go down
  c->add(kNaN);  // ignored
  EXPECT_EQ(c->value(), 2.25);
  EXPECT_EQ(c->integer_value(), 2u);
  EXPECT_NE(registry.expose().find("vecstream_work_seconds_total 2.25\n"), std::string::npos);
}

TEST(MetricsExposeTest, LargeIntegerCountersStayExact) {
  MetricsRegistry registry;
  Counter* c = must(registry.counter("vecstream_wal_bytes_total", "WAL bytes."));
  c->inc((uint64_t{1} << 53) + 1);  // not representable as a double
  EXPECT_NE(registry.expose().find("vecstream_wal_bytes_total 9007199254740993\n"), std::string::npos);
}

TEST(MetricsExposeTest, HistogramGolden) {
  MetricsRegistry registry;
  Histogram* h = must(registry.histogram("vecstream_query_latency_seconds", "Query latency.", {0.25, 0.5, 1}));
  for (double v : {0.125, 0.25, 0.375, 1.0, 2.0}) h->observe(v);
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_query_latency_seconds Query latency.\n"
            "# TYPE vecstream_query_latency_seconds histogram\n"
            "vecstream_query_latency_seconds_bucket{le=\"0.25\"} 2\n"
            "vecstream_query_latency_seconds_bucket{le=\"0.5\"} 3\n"
            "vecstream_query_latency_seconds_bucket{le=\"1\"} 4\n"
            "vecstream_query_latency_seconds_bucket{le=\"+Inf\"} 5\n"
            "vecstream_query_latency_seconds_sum 3.75\n"
            "vecstream_query_latency_seconds_count 5\n");
}

TEST(MetricsExposeTest, LabelledFamiliesGoldenWithEscaping) {
  MetricsRegistry registry;
  Family<Counter>* errors =
      must(registry.counter_family("vecstream_errors_total", "Errors by kind.\nA \\ marks a path.", {"kind"}));
  errors->with({"e\nf"}).inc();
  errors->with({"c\\d"}).inc(2);
  errors->with({"a\"b"}).inc(3);
  Family<Histogram>* build = must(
      registry.histogram_family("vecstream_index_build_seconds", "Index build time.", {"kind", "shard"}, {1, 10}));
  build->with({"hnsw", "1"}).observe(0.5);
  build->with({"hnsw", "1"}).observe(20);
  build->with({"flat", "0"}).observe(2);
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_errors_total Errors by kind.\\nA \\\\ marks a path.\n"
            "# TYPE vecstream_errors_total counter\n"
            "vecstream_errors_total{kind=\"a\\\"b\"} 3\n"
            "vecstream_errors_total{kind=\"c\\\\d\"} 2\n"
            "vecstream_errors_total{kind=\"e\\nf\"} 1\n"
            "# HELP vecstream_index_build_seconds Index build time.\n"
            "# TYPE vecstream_index_build_seconds histogram\n"
            "vecstream_index_build_seconds_bucket{kind=\"flat\",shard=\"0\",le=\"1\"} 0\n"
            "vecstream_index_build_seconds_bucket{kind=\"flat\",shard=\"0\",le=\"10\"} 1\n"
            "vecstream_index_build_seconds_bucket{kind=\"flat\",shard=\"0\",le=\"+Inf\"} 1\n"
            "vecstream_index_build_seconds_sum{kind=\"flat\",shard=\"0\"} 2\n"
            "vecstream_index_build_seconds_count{kind=\"flat\",shard=\"0\"} 1\n"
            "vecstream_index_build_seconds_bucket{kind=\"hnsw\",shard=\"1\",le=\"1\"} 1\n"
            "vecstream_index_build_seconds_bucket{kind=\"hnsw\",shard=\"1\",le=\"10\"} 1\n"
            "vecstream_index_build_seconds_bucket{kind=\"hnsw\",shard=\"1\",le=\"+Inf\"} 2\n"
            "vecstream_index_build_seconds_sum{kind=\"hnsw\",shard=\"1\"} 20.5\n"
            "vecstream_index_build_seconds_count{kind=\"hnsw\",shard=\"1\"} 2\n");
}

TEST(MetricsExposeTest, DoublesAreSpelledAsPrometheusReadsThem) {
  MetricsRegistry registry;
  Family<Gauge>* g = must(registry.gauge_family("vecstream_probe", "Values.", {"v"}));
  g->with({"a_nan"}).set(kNaN);
  g->with({"b_pinf"}).set(kInf);
  g->with({"c_ninf"}).set(-kInf);
  g->with({"d_small"}).set(0.00005);
  g->with({"e_big"}).set(1e21);
  g->with({"f_neg"}).set(-0.5);
  g->with({"g_int"}).set(42);
  g->with({"h_third"}).set(1.0 / 3.0);
  g->with({"i_1e-4"}).set(0.0001);
  g->with({"j_123456"}).set(123456);
  g->with({"k_1e6"}).set(1e6);
  g->with({"l_precise"}).set(1234567.125);
  g->with({"m_tiny"}).set(-2.2250738585072014e-308);
  g->with({"n_zero"}).set(0);
  g->with({"o_big"}).set(1.7976931348623157e308);
  g->with({"p_frac"}).set(12.5e-3);
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_probe Values.\n"
            "# TYPE vecstream_probe gauge\n"
            "vecstream_probe{v=\"a_nan\"} NaN\n"
            "vecstream_probe{v=\"b_pinf\"} +Inf\n"
            "vecstream_probe{v=\"c_ninf\"} -Inf\n"
            "vecstream_probe{v=\"d_small\"} 5e-05\n"
            "vecstream_probe{v=\"e_big\"} 1e+21\n"
            "vecstream_probe{v=\"f_neg\"} -0.5\n"
            "vecstream_probe{v=\"g_int\"} 42\n"
            "vecstream_probe{v=\"h_third\"} 0.3333333333333333\n"
            "vecstream_probe{v=\"i_1e-4\"} 0.0001\n"
            "vecstream_probe{v=\"j_123456\"} 123456\n"
            "vecstream_probe{v=\"k_1e6\"} 1e+06\n"
            "vecstream_probe{v=\"l_precise\"} 1.234567125e+06\n"
            "vecstream_probe{v=\"m_tiny\"} -2.2250738585072014e-308\n"
            "vecstream_probe{v=\"n_zero\"} 0\n"
            "vecstream_probe{v=\"o_big\"} 1.7976931348623157e+308\n"
            "vecstream_probe{v=\"p_frac\"} 0.0125\n");
}

TEST(MetricsExposeTest, FormattedDoublesReadBackExactly) {
  std::mt19937_64 rng(42);
  char buf[32];
  for (int i = 0; i < 200000; ++i) {
    double v = std::bit_cast<double>(rng());
    if (i % 2 == 0) v = std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 80) - 60);
    if (!std::isfinite(v)) continue;
    std::string text(internal::format_double(buf, sizeof buf, v));
    ASSERT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
  }
}

TEST(MetricsExposeTest, DefaultLatencyBucketsSpan50usTo10s) {
  std::vector<double> b = default_latency_buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.front(), 0.00005);
  EXPECT_EQ(b.back(), 10.0);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
  MetricsRegistry registry;
  Histogram* h = must(registry.histogram("vecstream_embed_latency_seconds", "Embedding latency."));
  EXPECT_EQ(h->bounds(), b);
  h->observe(0.0001);
  std::string text = registry.expose();
  EXPECT_NE(text.find("vecstream_embed_latency_seconds_bucket{le=\"5e-05\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vecstream_embed_latency_seconds_bucket{le=\"0.0001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vecstream_embed_latency_seconds_bucket{le=\"0.00025\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vecstream_embed_latency_seconds_bucket{le=\"10\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsExposeTest, BucketHelpers) {
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(linear_buckets(0, 0.5, 3), (std::vector<double>{0, 0.5, 1}));
  EXPECT_TRUE(exponential_buckets(0, 2, 4).empty());
  EXPECT_TRUE(exponential_buckets(1, 1, 4).empty());
  EXPECT_TRUE(linear_buckets(0, 0, 3).empty());
}

// ---------------------------------------------------------------------------------------------
// Histogram bucket math.

TEST(HistogramTest, BoundsAreInclusiveAndBucketsCumulative) {
  MetricsRegistry registry;
  Histogram* h = must(registry.histogram("vecstream_batch_size_points", "Batch sizes.", {1, 2, 4}));
  h->observe(1);          // le=1 (a value equal to a bound falls in that bucket)
  h->observe(1.0000001);  // le=2
  h->observe(2);          // le=2
  h->observe(-kInf);      // le=1
  h->observe(4);          // le=4
  h->observe(4.5);        // +Inf
  h->observe(1e300);      // +Inf
  h->observe(kNaN);       // ignored
  HistogramSnapshot s = h->snapshot();
  EXPECT_EQ(s.bounds, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_EQ(s.sum, -kInf);
}

TEST(HistogramTest, SumAndCountOfFiniteObservations) {
  MetricsRegistry registry;
  Histogram* h = must(registry.histogram("vecstream_rows_points", "Rows.", {10, 100}));
  for (int i = 1; i <= 200; ++i) h->observe(i);
  HistogramSnapshot s = h->snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{10, 100, 200}));
  EXPECT_EQ(s.sum, 200.0 * 201.0 / 2.0);
  EXPECT_EQ(s.count, 200u);
}

TEST(HistogramTest, QuantilesFollowHistogramQuantile) {
  HistogramSnapshot s;
  s.bounds = {1, 2, 4};
  s.cumulative = {10, 30, 40, 40};
  s.count = 40;
  EXPECT_DOUBLE_EQ(s.quantile(0.25), 1.0);   // rank 10: top of the first bucket
  EXPECT_DOUBLE_EQ(s.quantile(0.5), 1.5);    // rank 20: half way through (1, 2]
  EXPECT_DOUBLE_EQ(s.quantile(0.875), 3.0);  // rank 35: half way through (2, 4]
  EXPECT_EQ(s.quantile(-0.1), -kInf);
  EXPECT_EQ(s.quantile(1.1), kInf);
  s.cumulative = {10, 30, 40, 50};
  s.count = 50;
  EXPECT_DOUBLE_EQ(s.quantile(0.99), 4.0);  // in +Inf: the highest finite bound
  HistogramSnapshot empty;
  empty.bounds = {1};
  empty.cumulative = {0, 0};
  EXPECT_TRUE(std::isnan(empty.quantile(0.5)));
}

TEST(HistogramTest, ScopedTimerObservesOnce) {
  MetricsRegistry registry;
  Histogram* h = must(registry.histogram("vecstream_flush_seconds", "Flush time."));
  {
    ScopedTimer t(h);
    EXPECT_GE(t.elapsed_seconds(), 0.0);
  }
  EXPECT_EQ(h->snapshot().count, 1u);
  {
    ScopedTimer t(h);
    double s = t.stop();
    EXPECT_GE(s, 0.0);
    EXPECT_EQ(t.stop(), 0.0);  // second stop observes nothing
  }
  EXPECT_EQ(h->snapshot().count, 2u);
  {
    ScopedTimer t(h);
    t.cancel();
  }
  EXPECT_EQ(h->snapshot().count, 2u);
  { ScopedTimer t(nullptr); }  // a timer without a histogram is a no-op
}

// ---------------------------------------------------------------------------------------------
// Families.

TEST(FamilyTest, ChildrenAreCachedAndValidated) {
  MetricsRegistry registry;
  Family<Gauge>* lag = must(registry.gauge_family("vecstream_consumer_lag_messages", "Lag.", {"topic", "partition"}));
  Gauge* p0 = must(lag->get({"events", "0"}));
  EXPECT_EQ(p0, must(lag->get({"events", "0"})));
  std::vector<std::string> values{"events", "0"};
  EXPECT_EQ(p0, must(lag->get(std::span<const std::string>(values))));
  EXPECT_EQ(p0, &lag->with({"events", "0"}));
  EXPECT_NE(p0, must(lag->get({"events", "1"})));
  EXPECT_EQ(lag->size(), 2u);

  auto wrong = lag->get({"events"});
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  auto not_utf8 = lag->get({"events", "\xff"});
  ASSERT_FALSE(not_utf8.is_ok());
  EXPECT_EQ(not_utf8.status().code(), StatusCode::kInvalidArgument);
}

TEST(FamilyTest, RemoveHidesAChildAndGetBringsItBack) {
  MetricsRegistry registry;
  Family<Gauge>* lag = must(registry.gauge_family("vecstream_consumer_lag_messages", "Lag.", {"partition"}));
  Gauge* p0 = must(lag->get({"0"}));
  Gauge* p1 = must(lag->get({"1"}));
  p0->set(5);
  p1->set(7);
  EXPECT_TRUE(lag->remove({"0"}));
  EXPECT_FALSE(lag->remove({"0"}));
  EXPECT_EQ(lag->size(), 1u);
  p0->set(6);  // the pointer stays valid
  std::string text = registry.expose();
  EXPECT_EQ(text.find("partition=\"0\""), std::string::npos) << text;
  EXPECT_NE(text.find("vecstream_consumer_lag_messages{partition=\"1\"} 7\n"), std::string::npos) << text;
  EXPECT_EQ(must(lag->get({"0"})), p0);
  EXPECT_NE(registry.expose().find("vecstream_consumer_lag_messages{partition=\"0\"} 6\n"), std::string::npos);
}

TEST(FamilyTest, EmptyFamilyIsNotExposed) {
  MetricsRegistry registry;
  Family<Counter>* f = must(registry.counter_family("vecstream_errors_total", "Errors.", {"kind"}));
  EXPECT_EQ(registry.expose(), "");
  f->with({"io"});
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_errors_total Errors.\n"
            "# TYPE vecstream_errors_total counter\n"
            "vecstream_errors_total{kind=\"io\"} 0\n");
}

TEST(FamilyTest, ChildrenAreBounded) {
  MetricsRegistry registry;
  Family<Counter>* f = must(registry.counter_family("vecstream_requests_total", "Requests.", {"id"}));
  for (size_t i = 0; i < kMaxFamilyChildren; ++i) ASSERT_TRUE(f->get({std::to_string(i)}).is_ok());
  auto over = f->get({"one-too-many"});
  ASSERT_FALSE(over.is_ok());
  EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted);
  // with() never fails: the update goes to a child that is not exposed.
  f->with({"one-too-many"}).inc();
  EXPECT_EQ(registry.expose().find("one-too-many"), std::string::npos);
  EXPECT_EQ(f->size(), kMaxFamilyChildren);
}

// ---------------------------------------------------------------------------------------------
// Callback metrics.

TEST(CallbackTest, GaugeIsReadAtScrapeTime) {
  MetricsRegistry registry;
  std::atomic<int> segments{3};
  ASSERT_TRUE(registry
                  .register_callback(MetricType::kGauge, "vecstream_segments", "Segments.",
                                     [&] { return static_cast<double>(segments.load()); })
                  .is_ok());
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_segments Segments.\n"
            "# TYPE vecstream_segments gauge\n"
            "vecstream_segments 3\n");
  segments = 5;
  EXPECT_NE(registry.expose().find("vecstream_segments 5\n"), std::string::npos);
  ASSERT_TRUE(registry.unregister_callback("vecstream_segments").is_ok());
  EXPECT_EQ(registry.expose(), "");
  EXPECT_EQ(registry.unregister_callback("vecstream_segments").code(), StatusCode::kNotFound);
}

TEST(CallbackTest, LabelledCallbackCounter) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry
                  .register_callback(MetricType::kCounter, "vecstream_wal_bytes_total", "WAL bytes.", {"shard"},
                                     [](CallbackSink& sink) {
                                       sink.add({"1"}, 2048);
                                       sink.add({"0"}, 1024);
                                       sink.add({"0"}, 99);       // duplicate: dropped
                                       sink.add({"0", "x"}, 1);   // wrong arity: dropped
                                       std::vector<std::string> two{"2"};
                                       sink.add(std::span<const std::string>(two), 4096);
                                     })
                  .is_ok());
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_wal_bytes_total WAL bytes.\n"
            "# TYPE vecstream_wal_bytes_total counter\n"
            "vecstream_wal_bytes_total{shard=\"0\"} 1024\n"
            "vecstream_wal_bytes_total{shard=\"1\"} 2048\n"
            "vecstream_wal_bytes_total{shard=\"2\"} 4096\n");
}

TEST(CallbackTest, ThrowingCallbackLosesOnlyItsOwnSamples) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry
                  .register_callback(MetricType::kGauge, "vecstream_broken", "Throws.",
                                     []() -> double { throw std::runtime_error("engine gone"); })
                  .is_ok());
  must(registry.gauge("vecstream_fine", "Fine."))->set(1);
  EXPECT_EQ(registry.expose(),
            "# HELP vecstream_fine Fine.\n"
            "# TYPE vecstream_fine gauge\n"
            "vecstream_fine 1\n");
}

TEST(CallbackTest, RegistrationErrors) {
  MetricsRegistry registry;
  must(registry.gauge("vecstream_taken", "Taken."));
  EXPECT_EQ(registry.register_callback(MetricType::kGauge, "vecstream_taken", "Again.", [] { return 1.0; }).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.register_callback(MetricType::kHistogram, "vecstream_hist_seconds", "H.", [] { return 1.0; }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.register_callback(MetricType::kGauge, "vecstream_g", "G.", std::function<double()>()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.register_callback(MetricType::kCounter, "vecstream_c", "No _total.", [] { return 1.0; }).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry.register_callback(MetricType::kGauge, "vecstream_cb", "Cb.", [] { return 1.0; }).is_ok());
  EXPECT_EQ(registry.gauge("vecstream_cb", "Cb.").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.unregister_callback("vecstream_taken").code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// Validation and duplicates.

TEST(ValidationTest, MetricNames) {
  struct Case {
    const char* name;
    MetricType type;
  };
  const Case good[] = {
      {"vecstream_query_latency_seconds", MetricType::kHistogram},
      {"vecstream_wal_bytes_total", MetricType::kCounter},
      {"vecstream_consumer_lag_messages", MetricType::kGauge},
      {"vecstream_tombstone_ratio", MetricType::kGauge},
      {"_vecstream_x", MetricType::kGauge},
      {"vecstream_segments", MetricType::kGauge},
  };
  for (const auto& c : good) EXPECT_TRUE(validate_metric_name(c.name, c.type).is_ok()) << c.name;
  const Case bad[] = {
      {"", MetricType::kGauge},
      {"1vecstream", MetricType::kGauge},                      // starts with a digit
      {"vecstream-queries", MetricType::kGauge},               // '-'
      {"vecstream queries", MetricType::kGauge},               // ' '
      {"vecstream_é", MetricType::kGauge},                     // not ASCII
      {"vecstream:queries", MetricType::kGauge},               // ':' is for recording rules
      {"vecstream_queryLatency_seconds", MetricType::kGauge},  // camelCase
      {"__vecstream", MetricType::kGauge},                     // reserved prefix
      {"vecstream_queries", MetricType::kCounter},             // counter without _total
      {"_total", MetricType::kCounter},                        // nothing before _total
      {"vecstream_queries_total", MetricType::kGauge},         // _total on a gauge
      {"vecstream_items_count", MetricType::kGauge},           // histogram series suffixes
      {"vecstream_latency_sum", MetricType::kHistogram},
      {"vecstream_latency_bucket", MetricType::kGauge},
      {"vecstream_queue_gauge", MetricType::kGauge},           // type in the name
      {"vecstream_counter_events_total", MetricType::kCounter},
      {"vecstream_lag_ms", MetricType::kGauge},                // abbreviated unit
      {"vecstream_size_kb", MetricType::kGauge},
      {"vecstream_latency_milliseconds", MetricType::kHistogram},  // non-base unit
      {"vecstream_memory_kilobytes", MetricType::kGauge},
      {"vecstream_uptime_hours", MetricType::kGauge},
  };
  for (const auto& c : bad) {
    Status s = validate_metric_name(c.name, c.type);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name;
  }
}

TEST(ValidationTest, LabelNamesHelpAndBuckets) {
  MetricsRegistry registry;
  for (const char* label : {"", "1a", "a-b", "Kind", "__name", "a b"}) {
    EXPECT_EQ(registry.counter_family("vecstream_e_total", "E.", {label}).status().code(),
              StatusCode::kInvalidArgument)
        << label;
  }
  EXPECT_TRUE(validate_label_name("_kind").is_ok());
  EXPECT_EQ(registry.counter_family("vecstream_e_total", "E.", {"kind", "kind"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.histogram_family("vecstream_hist_seconds", "H.", {"le"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry.gauge_family("vecstream_g", "G.", {"le"}).is_ok());  // only histograms reserve le
  EXPECT_EQ(registry.counter("vecstream_e_total", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.counter("vecstream_e_total", "\xc3").status().code(), StatusCode::kInvalidArgument);
  for (const auto& bounds : {std::vector<double>{1, 1}, std::vector<double>{2, 1}, std::vector<double>{kNaN},
                             std::vector<double>{-kInf, 1}, std::vector<double>(kMaxHistogramBuckets + 1, 0)}) {
    EXPECT_EQ(registry.histogram("vecstream_hist_seconds", "H.", bounds).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(registry.expose(), "");  // nothing above was registered
}

TEST(ValidationTest, DuplicatesReturnTheSameMetricOrConflict) {
  MetricsRegistry registry;
  Counter* c = must(registry.counter("vecstream_events_total", "Events."));
  EXPECT_EQ(c, must(registry.counter("vecstream_events_total", "Events, again.")));
  EXPECT_EQ(registry.gauge("vecstream_events_total", "G.").status().code(), StatusCode::kInvalidArgument);

  Gauge* g = must(registry.gauge("vecstream_segments", "Segments."));
  EXPECT_EQ(g, must(registry.gauge("vecstream_segments", "Segments.")));
  EXPECT_EQ(registry.histogram("vecstream_segments", "H.", {1}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.gauge_family("vecstream_segments", "S.", {"shard"}).status().code(), StatusCode::kAlreadyExists);

  Family<Counter>* f = must(registry.counter_family("vecstream_errors_total", "Errors.", {"kind"}));
  EXPECT_EQ(f, must(registry.counter_family("vecstream_errors_total", "Errors.", {"kind"})));
  EXPECT_EQ(registry.counter_family("vecstream_errors_total", "Errors.", {"reason"}).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.counter("vecstream_errors_total", "Errors.").status().code(), StatusCode::kAlreadyExists);

  Histogram* h = must(registry.histogram("vecstream_q_seconds", "Q.", {1, 2}));
  EXPECT_EQ(h, must(registry.histogram("vecstream_q_seconds", "Q.", {1, 2, kInf})));  // +Inf is implied
  EXPECT_EQ(registry.histogram("vecstream_q_seconds", "Q.", {1, 3}).status().code(), StatusCode::kAlreadyExists);
}

TEST(ValidationTest, DefaultRegistryIsOneInstance) {
  EXPECT_EQ(&default_registry(), &default_registry());
  Counter* c = must(default_registry().counter("vecstream_default_registry_test_total", "Test."));
  c->inc();
  EXPECT_NE(default_registry().expose().find("vecstream_default_registry_test_total 1\n"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Concurrency: totals are exact while other threads scrape and register.

TEST(MetricsConcurrencyTest, EightThreadsHammeringGiveExactTotals) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  MetricsRegistry registry;
  Counter* events = must(registry.counter("vecstream_events_total", "Events."));
  Counter* seconds = must(registry.counter("vecstream_busy_seconds_total", "Busy."));
  Gauge* inflight = must(registry.gauge("vecstream_inflight_requests", "In flight."));
  Histogram* latency = must(registry.histogram("vecstream_latency_seconds", "Latency.", {1, 2, 3}));
  Family<Counter>* by_kind = must(registry.counter_family("vecstream_errors_total", "Errors.", {"kind"}));

  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) {
      std::string text = registry.expose();
      EXPECT_FALSE(text.empty());
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter* mine = &by_kind->with({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kPerThread; ++i) {
        events->inc();
        seconds->add(0.5);
        inflight->inc();
        latency->observe(static_cast<double>(i % 4));  // 0,1 -> le=1; 2 -> le=2; 3 -> le=3
        mine->inc();
        inflight->dec();
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  scraper.join();

  constexpr uint64_t kTotal = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(events->integer_value(), kTotal);
  EXPECT_EQ(seconds->value(), 0.5 * kTotal);
  EXPECT_EQ(inflight->value(), 0.0);
  HistogramSnapshot s = latency->snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{kTotal / 2, kTotal * 3 / 4, kTotal, kTotal}));
  EXPECT_EQ(s.count, kTotal);
  EXPECT_EQ(s.sum, 1.5 * kTotal);  // mean of 0,1,2,3; every partial sum is an exact integer
  EXPECT_EQ(by_kind->with({"even"}).integer_value(), kTotal / 2);
  EXPECT_EQ(by_kind->with({"odd"}).integer_value(), kTotal / 2);
}

TEST(MetricsConcurrencyTest, ConcurrentRegistrationAgreesOnOneMetric) {
  MetricsRegistry registry;
  constexpr int kThreads = 8;
  std::vector<Counter*> seen(kThreads);
  std::vector<Gauge*> children(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      seen[t] = must(registry.counter("vecstream_shared_total", "Shared."));
      Family<Gauge>* f = must(registry.gauge_family("vecstream_lag_messages", "Lag.", {"partition"}));
      children[t] = must(f->get({"7"}));
      seen[t]->inc();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < kThreads; ++t) {
    EXPECT_EQ(seen[t], seen[0]);
    EXPECT_EQ(children[t], children[0]);
  }
  EXPECT_EQ(seen[0]->integer_value(), uint64_t{kThreads});
}

// ---------------------------------------------------------------------------------------------
// promtool: the output of a registry with every kind of metric passes `promtool check metrics`.

bool promtool_available() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

// Runs `promtool check metrics < path`; returns its exit status and puts what it printed in `out`.
int run_promtool(const std::string& path, std::string& out) {
  std::string cmd = "promtool check metrics < '" + path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PromtoolTest, EveryKindOfMetricPassesCheckMetrics) {
  if (!promtool_available()) GTEST_FAIL() << "promtool not installed (Debian package prometheus, scripts/install-deps.sh)";
  MetricsRegistry registry;
  must(registry.counter("vecstream_ingest_events_total", "Events ingested."))->inc(12345);
  must(registry.counter("vecstream_embed_seconds_total", "Time spent embedding."))->add(1.25);
  Family<Counter>* errors = must(registry.counter_family("vecstream_errors_total", "Errors by kind.", {"kind"}));
  errors->with({"bad_dimension"}).inc();
  errors->with({"quote\" back\\slash new\nline"}).inc(2);
  errors->with({"unicode ✓ ünïcödé"}).inc(3);
  errors->with({""}).inc();
  must(registry.gauge("vecstream_tombstone_ratio", "Deleted fraction.\nSecond line with a \\."))->set(0.125);
  Family<Gauge>* lag = must(registry.gauge_family("vecstream_consumer_lag_messages", "Lag.", {"topic", "partition"}));
  lag->with({"events", "0"}).set(17);
  lag->with({"events", "1"}).set(kNaN);
  lag->with({"events", "2"}).set(kInf);
  lag->with({"events", "3"}).set(-kInf);
  lag->with({"events", "4"}).set(-1e-300);
  Histogram* q = must(registry.histogram("vecstream_query_latency_seconds", "Query latency."));
  for (double v : {0.00001, 0.0003, 0.002, 0.04, 0.7, 30.0}) q->observe(v);
  Family<Histogram>* build = must(registry.histogram_family("vecstream_index_build_seconds", "Build time.",
                                                            {"kind"}, exponential_buckets(0.001, 10, 6)));
  build->with({"hnsw"}).observe(3);
  build->with({"ivf_pq"}).observe(0.02);
  must(registry.histogram("vecstream_empty_seconds", "Never observed.", {}));
  ASSERT_TRUE(registry.register_callback(MetricType::kGauge, "vecstream_segments", "Segments.", [] { return 9.0; })
                  .is_ok());
  ASSERT_TRUE(registry
                  .register_callback(MetricType::kCounter, "vecstream_wal_bytes_total", "WAL bytes.", {"shard"},
                                     [](CallbackSink& s) {
                                       s.add({"0"}, 1e12);
                                       s.add({"1"}, 0);
                                     })
                  .is_ok());

  testing::TempDir dir;
  std::string path = dir / "metrics.txt";
  std::string text = registry.expose();
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  std::string out;
  int rc = run_promtool(path, out);
  EXPECT_EQ(rc, 0) << out << "\n---\n" << text;
  EXPECT_EQ(out, "") << text;

  // The check is not vacuous: promtool does report a problem in a file that has one.
  {
    std::ofstream f(path, std::ios::binary);
    f << "# TYPE vecstream_events counter\nvecstream_events 1\n";
  }
  out.clear();
  EXPECT_NE(run_promtool(path, out), 0);
  EXPECT_FALSE(out.empty());
}

}  // namespace
}  // namespace vecstream::obs

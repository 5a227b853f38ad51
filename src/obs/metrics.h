// Metrics: counters, gauges and histograms in a registry that renders the Prometheus text format.
//
// A MetricsRegistry owns named metric families. Each family has a type, a help text, and label
// names; an unlabelled metric is a family with no label names and one child. Callers register a
// metric once (the registry validates the name, see below) and keep the returned pointer: the
// pointer stays valid for the registry's lifetime, and updating through it never locks or
// allocates. Registering the same name again with the same type, labels (and buckets) returns the
// same metric, so independent modules may each "register" a shared metric.
//
// Hot path. Counter and Histogram values are split into per-thread stripes (one 64-byte line or
// more per stripe; a thread picks its stripe once, round-robin) so that threads on different cores
// do not bounce one cache line; a scrape sums the stripes. Each update is one relaxed atomic
// fetch_add per value (a compare-exchange loop for double sums). A Gauge is one atomic: its set()
// is last-writer-wins, which stripes cannot express.
//
// Scrape. expose() renders the text exposition format 0.0.4: families sorted by name, children
// sorted by label values, "# HELP" and "# TYPE" before each family, cumulative histogram buckets
// ending with le="+Inf", then _sum and _count. Callback metrics are evaluated during the scrape.
//
// Names. Beyond Prometheus' validity rules ([a-zA-Z_:][a-zA-Z0-9_:]* for metric names,
// [a-zA-Z_][a-zA-Z0-9_]* for label names, no "__" prefix), the registry enforces the naming
// conventions that `promtool check metrics` reports as problems, so that /metrics always passes
// it: lower snake_case, no ':' (reserved for recording rules), counters end in _total and nothing
// else does, no _bucket/_sum/_count suffix (those are a histogram's series), no type name in the
// name, no abbreviated or non-base units (_seconds, _bytes; not _ms, _kb, _milliseconds), a
// non-empty help text, and no "le" label on a histogram. shared/DESIGN.md ("Metrics") adds the
// vecstream_ prefix; that one is a convention of our callers, not checked here.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vecstream::obs {

template <typename M>
class Family;

enum class MetricType { kCounter, kGauge, kHistogram };

/// "counter", "gauge", "histogram": the word used on "# TYPE" lines.
std::string_view metric_type_name(MetricType type);

/// The Content-Type of expose()'s output, for the HTTP handler of GET /metrics.
inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Most children one family may hold (live and removed together). Past it, Family::get answers
/// RESOURCE_EXHAUSTED and Family::with hands out a detached child, so an unbounded label (an id, a
/// user string) cannot grow memory without bound.
inline constexpr size_t kMaxFamilyChildren = 10000;

/// Most bucket bounds of one histogram.
inline constexpr size_t kMaxHistogramBuckets = 256;

/// Latency buckets in seconds, 50us to 10s: 5e-05, 0.0001, 0.00025, 0.0005, 0.001 ... 2.5, 5, 10.
std::vector<double> default_latency_buckets();
/// count bounds start, start*factor, start*factor^2, ...; empty if start <= 0, factor <= 1 or
/// count == 0.
std::vector<double> exponential_buckets(double start, double factor, size_t count);
/// count bounds start, start+width, ...; empty if width <= 0 or count == 0.
std::vector<double> linear_buckets(double start, double width, size_t count);

/// Checks a metric name against the rules above for a metric of `type`. The registry calls it;
/// exposed so that callers can validate names they build at run time.
Status validate_metric_name(std::string_view name, MetricType type);
/// Checks one label name (Prometheus validity, lower snake_case, no "__" prefix).
Status validate_label_name(std::string_view name);

namespace internal {

/// One cache line of eight 64-bit atomic slots; stripes of striped metrics are made of these.
struct alignas(64) SlotLine {
  std::atomic<uint64_t> slot[8];
};
static_assert(sizeof(SlotLine) == 64);

/// A number for the calling thread: 0, 1, 2 ... in the order threads first ask.
size_t next_thread_number() noexcept;

/// Stripe of the calling thread in a metric with `stripes` stripes (a power of two). The thread's
/// number is assigned on first use; consecutive threads get distinct stripes.
inline size_t stripe_of_this_thread(size_t stripes) noexcept {
  thread_local const size_t number = next_thread_number();
  return number & (stripes - 1);
}

/// Number of stripes per striped metric in this process: the hardware concurrency rounded up to a
/// power of two, at most 16. Computed once.
size_t stripe_count() noexcept;

/// Adds `v` to a double stored as its bit pattern in `slot`.
void atomic_add_double(std::atomic<uint64_t>& slot, double v) noexcept;
double load_double(const std::atomic<uint64_t>& slot) noexcept;

/// Orders label-value lists lexicographically; transparent, so a list of string_views finds a
/// stored list of strings without building one.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  }
};

}  // namespace internal

/// A monotonically increasing value: events, errors, bytes written.
///
/// Thread safety: every method may be called from any thread. inc() and add() are lock-free and
/// allocation-free. An integer part (inc) and a floating part (add) are kept apart so that integer
/// counts stay exact past 2^53.
class Counter {
 public:
  Counter();
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  /// Adds n (default 1).
  void inc(uint64_t n = 1) noexcept {
    lines_[internal::stripe_of_this_thread(stripes_)].slot[0].fetch_add(n, std::memory_order_relaxed);
  }
  /// Adds v. Negative and NaN values are ignored: a counter never goes down.
  void add(double v) noexcept;

  /// The current total (sum over stripes; concurrent updates may or may not be included).
  double value() const noexcept;
  /// The integer part alone (what inc() added), exact.
  uint64_t integer_value() const noexcept;

 private:
  template <typename M>
  friend class Family;
  // Writes the value as Prometheus renders it: exact integer when only inc() was used.
  void render_value(std::string& out) const;

  size_t stripes_;
  std::unique_ptr<internal::SlotLine[]> lines_;  // per stripe: slot[0] integer, slot[1] double bits
};

/// A value that goes up and down: queue depth, consumer lag, memory in use.
///
/// Thread safety: any thread; lock-free, allocation-free. set() is last-writer-wins.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) noexcept;
  void add(double v) noexcept;
  void sub(double v) noexcept { add(-v); }
  void inc() noexcept { add(1.0); }
  void dec() noexcept { add(-1.0); }
  double value() const noexcept;

 private:
  alignas(64) std::atomic<uint64_t> bits_{0};  // double 0.0 is all zero bits
};

/// A consistent-enough copy of a histogram, taken by Histogram::snapshot().
struct HistogramSnapshot {
  std::vector<double> bounds;       // upper bounds, increasing, without +Inf
  std::vector<uint64_t> cumulative; // bounds.size() + 1 entries; the last is the +Inf bucket
  double sum = 0.0;
  uint64_t count = 0;               // == cumulative.back()

  /// The q-quantile (0 <= q <= 1) estimated as Prometheus' histogram_quantile() does: linear
  /// interpolation inside the bucket holding the rank, the highest finite bound if the rank falls
  /// in the +Inf bucket. NaN when empty; -Inf for q < 0 and +Inf for q > 1, as Prometheus.
  double quantile(double q) const;
};

/// Observations counted into fixed buckets: latencies, batch sizes.
///
/// A value v falls in the first bucket whose upper bound b satisfies v <= b (Prometheus' "le");
/// buckets are stored per bucket and made cumulative at scrape time, and _count is the total of
/// the buckets, so the +Inf bucket always equals _count. NaN observations are ignored.
///
/// Thread safety: any thread; observe() is lock-free and allocation-free (a binary search over
/// the bounds, one fetch_add, one compare-exchange loop for the sum).
class Histogram {
 public:
  /// `bounds` must have been validated (MetricsRegistry does).
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double v) noexcept;
  HistogramSnapshot snapshot() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::atomic<uint64_t>& slot(size_t stripe, size_t index) const noexcept {
    return lines_[stripe * lines_per_stripe_ + index / 8].slot[index % 8];
  }

  std::shared_ptr<const std::vector<double>> bounds_;
  size_t stripes_;
  size_t lines_per_stripe_;  // per stripe: bounds+1 bucket counts, then the sum's bits
  std::unique_ptr<internal::SlotLine[]> lines_;
};

/// Observes the seconds from construction to destruction (or stop()) into a histogram.
/// Not thread-safe itself (one per scope); the histogram it feeds is.
class ScopedTimer {
 public:
  /// A null histogram makes a timer that observes nothing.
  explicit ScopedTimer(Histogram* histogram) noexcept
      : histogram_(histogram), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() { stop(); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

  /// Seconds since construction.
  double elapsed_seconds() const noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  /// Observes now and returns the seconds observed; later calls and the destructor do nothing
  /// (and return 0).
  double stop() noexcept {
    if (histogram_ == nullptr) return 0.0;
    double s = elapsed_seconds();
    histogram_->observe(s);
    histogram_ = nullptr;
    return s;
  }
  /// Observes nothing (an aborted operation whose time would mislead).
  void cancel() noexcept { histogram_ = nullptr; }

 private:
  Histogram* histogram_;
  std::chrono::steady_clock::time_point start_;
};

/// A labelled family: one child metric M (Counter, Gauge or Histogram) per list of label values.
///
/// Obtaining a child locks the family (and allocates the first time); callers keep the pointer,
/// which stays valid for the registry's lifetime, even after remove().
///
/// Thread safety: every method may be called from any thread.
template <typename M>
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  /// The child for these label values (one per label name, in order), created on first use.
  /// INVALID_ARGUMENT for the wrong number of values or a value that is not UTF-8;
  /// RESOURCE_EXHAUSTED past kMaxFamilyChildren.
  Result<M*> get(std::initializer_list<std::string_view> label_values);
  Result<M*> get(std::span<const std::string> label_values);

  /// As get(), for call sites whose label values are known to be right: on any error it asserts
  /// in debug builds and hands out a detached child (never exposed) in release builds.
  M& with(std::initializer_list<std::string_view> label_values);

  /// Stops exposing the child with these label values (a partition moved to another node).
  /// Pointers to it stay valid; get() with the same values brings it back, value included.
  /// Returns whether a child was exposed.
  bool remove(std::initializer_list<std::string_view> label_values);

  /// Number of exposed children.
  size_t size() const;
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class MetricsRegistry;
  using ChildMap = std::map<std::vector<std::string>, std::unique_ptr<M>, internal::LabelValuesLess>;

  Family(std::vector<std::string> label_names, std::shared_ptr<const std::vector<double>> bounds);
  template <typename Values>
  Result<M*> get_child(const Values& label_values);
  std::unique_ptr<M> make_child() const;
  void render(std::string& out, std::string_view name) const;

  const std::vector<std::string> label_names_;
  const std::shared_ptr<const std::vector<double>> bounds_;  // histograms only
  mutable std::mutex mu_;
  ChildMap live_;
  ChildMap removed_;
  std::unique_ptr<M> detached_;  // what with() hands out on error
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

/// Collects the samples a callback metric reports at scrape time.
class CallbackSink {
 public:
  /// One sample of an unlabelled callback metric.
  void add(double value) { add_sample(std::span<const std::string_view>(), value); }
  /// One sample with label values (one per label name, in order). Samples with the wrong number
  /// of values, values that are not UTF-8, or label values already reported are dropped.
  void add(std::initializer_list<std::string_view> label_values, double value) {
    add_sample(std::span<const std::string_view>(label_values.begin(), label_values.size()), value);
  }
  void add(std::span<const std::string> label_values, double value) { add_sample(label_values, value); }

 private:
  friend class MetricsRegistry;
  explicit CallbackSink(size_t arity) : arity_(arity) {}
  template <typename Values>
  void add_sample(const Values& label_values, double value);

  size_t arity_;
  std::map<std::vector<std::string>, double, internal::LabelValuesLess> samples_;
};

/// Reports a callback metric's samples. Runs on the scraping thread, under the registry's lock:
/// it must not call back into the registry, and should be cheap (read an atomic or a snapshot).
using MetricCallback = std::function<void(CallbackSink&)>;

/// Owns metric families and renders them.
///
/// Thread safety: every method may be called from any thread. Registration and expose() take the
/// registry's mutex; metric updates never do.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// Get-or-create. INVALID_ARGUMENT for a bad name, label name, help text or bucket list;
  /// ALREADY_EXISTS when the name is taken by a metric of another type, other label names, other
  /// buckets, or a callback.
  Result<Counter*> counter(std::string_view name, std::string_view help);
  Result<Gauge*> gauge(std::string_view name, std::string_view help);
  /// `bounds`: finite, strictly increasing upper bounds (a trailing +Inf is dropped), at most
  /// kMaxHistogramBuckets.
  Result<Histogram*> histogram(std::string_view name, std::string_view help,
                               std::vector<double> bounds = default_latency_buckets());

  Result<Family<Counter>*> counter_family(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names);
  Result<Family<Gauge>*> gauge_family(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names);
  Result<Family<Histogram>*> histogram_family(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names,
                                              std::vector<double> bounds = default_latency_buckets());

  /// A metric whose value is read at scrape time (segment counts read from the engine, WAL bytes
  /// kept by the WAL). `type` is kCounter or kGauge (INVALID_ARGUMENT otherwise). ALREADY_EXISTS
  /// if the name is taken, whatever by. The callback may not throw; if it does, the scrape leaves
  /// its samples out.
  Status register_callback(MetricType type, std::string_view name, std::string_view help,
                           std::function<double()> fn);
  /// Labelled form: the callback adds one sample per label-value list to the sink.
  Status register_callback(MetricType type, std::string_view name, std::string_view help,
                           std::vector<std::string> label_names, MetricCallback fn);
  /// Removes a callback metric. Once it returns, the callback is not running and will not run
  /// again, so whatever it captured may be destroyed. NOT_FOUND if no callback has that name.
  Status unregister_callback(std::string_view name);

  /// Appends the text exposition format 0.0.4 of every metric to `out`. Never throws (on memory
  /// exhaustion the output stops short).
  void expose(std::string& out) const;
  std::string expose() const;

 private:
  struct Entry;
  template <typename M>
  Result<Family<M>*> family(MetricType type, std::string_view name, std::string_view help,
                            std::vector<std::string> label_names, std::vector<double> bounds);
  Status check_new_name(std::string_view name) const;  // mu_ held

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;
};

/// A process-wide registry for code that has no registry handed to it. Never destroyed, so
/// metrics updated by threads still running at exit stay valid.
MetricsRegistry& default_registry();

}  // namespace vecstream::obs

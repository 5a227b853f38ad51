// Metrics registry: name validation, striped counters and histograms, text exposition 0.0.4.
#include "obs/metrics.h"

#include <bit>
#include <cassert>
#include <charconv>
#include <cmath>
#include <limits>
#include <new>
#include <thread>

#include "obs/text.h"

namespace vecstream::obs {

using internal::append_double;
using internal::append_escaped_help;
using internal::append_escaped_label_value;
using internal::append_uint;
using internal::format_double;
using internal::is_valid_utf8;

std::string_view metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

std::vector<double> default_latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
}

std::vector<double> exponential_buckets(double start, double factor, size_t count) {
  std::vector<double> out;
  if (!(start > 0.0) || !(factor > 1.0) || count == 0 || count > kMaxHistogramBuckets) return out;
  double b = start;
  for (size_t i = 0; i < count && std::isfinite(b); ++i, b *= factor) out.push_back(b);
  return out;
}

std::vector<double> linear_buckets(double start, double width, size_t count) {
  std::vector<double> out;
  if (!(width > 0.0) || !std::isfinite(start) || count == 0 || count > kMaxHistogramBuckets) return out;
  for (size_t i = 0; i < count; ++i) out.push_back(start + width * static_cast<double>(i));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation.

namespace {

constexpr size_t kMaxNameLength = 256;
constexpr size_t kMaxLabelNames = 16;
constexpr size_t kMaxHelpLength = 4096;

bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}
bool is_name_char(char c, bool allow_colon) { return is_name_start(c, allow_colon) || (c >= '0' && c <= '9'); }

// The units that `promtool check metrics` knows, mapped to their base unit, and the prefixes it
// recognises in front of them (client_golang's promlint). A name's first unit-like token decides.
struct UnitRule {
  std::string_view unit;
  std::string_view base;
};
constexpr UnitRule kUnits[] = {
    {"amperes", "amperes"}, {"bytes", "bytes"},     {"celsius", "celsius"},   {"grams", "grams"},
    {"joules", "joules"},   {"kelvin", "kelvin"},   {"meters", "meters"},     {"metres", "metres"},
    {"seconds", "seconds"}, {"volts", "volts"},     {"minutes", "seconds"},   {"hours", "seconds"},
    {"days", "seconds"},    {"weeks", "seconds"},   {"kelvins", "kelvin"},    {"fahrenheit", "celsius"},
    {"rankine", "celsius"}, {"inches", "meters"},   {"yards", "meters"},      {"miles", "meters"},
    {"bits", "bytes"},      {"calories", "joules"}, {"pounds", "grams"},      {"ounces", "grams"},
};
constexpr std::string_view kUnitPrefixes[] = {"pico", "nano", "micro", "milli", "centi", "deci",
                                              "deca", "hecto", "kilo", "kibi", "mega", "mibi",
                                              "giga", "gibi", "tera", "tebi", "peta", "pebi"};
constexpr std::string_view kUnitAbbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                   "mb", "gb", "tb", "pb", "m",   "h", "d"};

const UnitRule* find_unit(std::string_view token) {
  for (const auto& u : kUnits) {
    if (token == u.unit) return &u;
  }
  return nullptr;
}

// Checks the unit tokens of a name; empty when fine, else the problem.
std::string unit_problem(std::string_view name) {
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t end = name.find('_', pos);
    if (end == std::string_view::npos) end = name.size();
    std::string_view token = name.substr(pos, end - pos);
    pos = end + 1;
    if (token.empty()) continue;
    for (auto a : kUnitAbbreviations) {
      if (token == a) return "abbreviated unit \"" + std::string(token) + "\"; spell out the base unit";
    }
    const UnitRule* rule = find_unit(token);
    if (rule == nullptr) {
      for (auto p : kUnitPrefixes) {
        if (token.size() > p.size() && token.starts_with(p)) {
          rule = find_unit(token.substr(p.size()));
          if (rule != nullptr) break;
        }
      }
    }
    if (rule != nullptr) {
      if (token == rule->base) return {};
      return "use base unit \"" + std::string(rule->base) + "\" instead of \"" + std::string(token) + "\"";
    }
  }
  return {};
}

Status validate_help(std::string_view help) {
  if (help.empty()) return Status::invalid_argument("metric help text is empty");
  if (help.size() > kMaxHelpLength) return Status::invalid_argument("metric help text is too long");
  if (!is_valid_utf8(help)) return Status::invalid_argument("metric help text is not UTF-8");
  return Status::ok();
}

Status validate_label_names(const std::vector<std::string>& names, MetricType type) {
  if (names.size() > kMaxLabelNames) return Status::invalid_argument("too many label names");
  for (size_t i = 0; i < names.size(); ++i) {
    VS_RETURN_IF_ERROR(validate_label_name(names[i]));
    if (type == MetricType::kHistogram && names[i] == "le") {
      return Status::invalid_argument("label name \"le\" is reserved for histogram buckets");
    }
    for (size_t j = 0; j < i; ++j) {
      if (names[j] == names[i]) return Status::invalid_argument("duplicate label name \"" + names[i] + "\"");
    }
  }
  return Status::ok();
}

// Drops a trailing +Inf; requires finite, strictly increasing bounds.
Status normalize_bounds(std::vector<double>& bounds) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
  if (bounds.size() > kMaxHistogramBuckets) return Status::invalid_argument("too many histogram buckets");
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return Status::invalid_argument("histogram bucket bound is not finite");
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return Status::invalid_argument("histogram bucket bounds are not strictly increasing");
    }
  }
  return Status::ok();
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Status validate_metric_name(std::string_view name, MetricType type) {
  auto bad = [&](const std::string& why) {
    return Status::invalid_argument("metric name " + quoted(name) + ": " + why);
  };
  if (name.empty()) return Status::invalid_argument("metric name is empty");
  if (name.size() > kMaxNameLength) return bad("longer than " + std::to_string(kMaxNameLength) + " characters");
  for (size_t i = 0; i < name.size(); ++i) {
    bool ok = i == 0 ? is_name_start(name[i], true) : is_name_char(name[i], true);
    if (!ok) return bad("must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  if (name.find(':') != std::string_view::npos) return bad("':' is reserved for recording rules");
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') return bad("must be lower snake_case");
  }
  if (name.starts_with("__")) return bad("the \"__\" prefix is reserved");
  bool total = name.ends_with("_total");
  if (type == MetricType::kCounter && (!total || name.size() == 6)) return bad("a counter's name must end in _total");
  if (type != MetricType::kCounter && total) return bad("only counters end in _total");
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix)) return bad(std::string(suffix) + " is reserved for histogram series");
  }
  std::string type_word = "_" + std::string(metric_type_name(type));
  if (name.find(type_word + "_") != std::string_view::npos || name.ends_with(type_word)) {
    return bad("must not contain its type \"" + std::string(metric_type_name(type)) + "\"");
  }
  std::string unit = unit_problem(name);
  if (!unit.empty()) return bad(unit);
  return Status::ok();
}

Status validate_label_name(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Status::invalid_argument("label name " + quoted(name) + ": " + why);
  };
  if (name.empty()) return Status::invalid_argument("label name is empty");
  if (name.size() > kMaxNameLength) return bad("too long");
  for (size_t i = 0; i < name.size(); ++i) {
    bool ok = i == 0 ? is_name_start(name[i], false) : is_name_char(name[i], false);
    if (!ok) return bad("must match [a-zA-Z_][a-zA-Z0-9_]*");
    if (name[i] >= 'A' && name[i] <= 'Z') return bad("must be lower snake_case");
  }
  if (name.starts_with("__")) return bad("the \"__\" prefix is reserved");
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Stripes and atomic doubles.

namespace internal {

size_t next_thread_number() noexcept {
  static std::atomic<size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

size_t stripe_count() noexcept {
  static const size_t count = [] {
    size_t hc = std::thread::hardware_concurrency();
    return std::bit_ceil(std::clamp<size_t>(hc, 1, 16));
  }();
  return count;
}

void atomic_add_double(std::atomic<uint64_t>& slot, double v) noexcept {
  uint64_t old = slot.load(std::memory_order_relaxed);
  while (!slot.compare_exchange_weak(old, std::bit_cast<uint64_t>(std::bit_cast<double>(old) + v),
                                     std::memory_order_relaxed, std::memory_order_relaxed)) {
  }
}

double load_double(const std::atomic<uint64_t>& slot) noexcept {
  return std::bit_cast<double>(slot.load(std::memory_order_relaxed));
}

}  // namespace internal

static_assert(std::bit_cast<uint64_t>(0.0) == 0, "a zeroed slot must read as 0.0");

// ---------------------------------------------------------------------------------------------
// Counter, Gauge, Histogram.

Counter::Counter()
    : stripes_(internal::stripe_count()), lines_(std::make_unique<internal::SlotLine[]>(stripes_)) {}

void Counter::add(double v) noexcept {
  if (!(v >= 0.0)) return;
  internal::atomic_add_double(lines_[internal::stripe_of_this_thread(stripes_)].slot[1], v);
}

uint64_t Counter::integer_value() const noexcept {
  uint64_t n = 0;
  for (size_t s = 0; s < stripes_; ++s) n += lines_[s].slot[0].load(std::memory_order_relaxed);
  return n;
}

double Counter::value() const noexcept {
  double d = 0.0;
  for (size_t s = 0; s < stripes_; ++s) d += internal::load_double(lines_[s].slot[1]);
  return static_cast<double>(integer_value()) + d;
}

void Counter::render_value(std::string& out) const {
  double d = 0.0;
  for (size_t s = 0; s < stripes_; ++s) d += internal::load_double(lines_[s].slot[1]);
  uint64_t n = integer_value();
  if (d == 0.0) {
    append_uint(out, n);
  } else {
    append_double(out, static_cast<double>(n) + d);
  }
}

void Gauge::set(double v) noexcept { bits_.store(std::bit_cast<uint64_t>(v), std::memory_order_relaxed); }
void Gauge::add(double v) noexcept { internal::atomic_add_double(bits_, v); }
double Gauge::value() const noexcept { return internal::load_double(bits_); }

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      stripes_(internal::stripe_count()),
      lines_per_stripe_((bounds_->size() + 2 + 7) / 8),
      lines_(std::make_unique<internal::SlotLine[]>(stripes_ * lines_per_stripe_)) {}

void Histogram::observe(double v) noexcept {
  if (std::isnan(v)) return;
  const std::vector<double>& b = *bounds_;
  size_t bucket = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
  size_t stripe = internal::stripe_of_this_thread(stripes_);
  slot(stripe, bucket).fetch_add(1, std::memory_order_relaxed);
  internal::atomic_add_double(slot(stripe, b.size() + 1), v);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot snap;
  snap.bounds = *bounds_;
  size_t buckets = bounds_->size() + 1;
  snap.cumulative.assign(buckets, 0);
  uint64_t running = 0;
  for (size_t i = 0; i < buckets; ++i) {
    for (size_t s = 0; s < stripes_; ++s) running += slot(s, i).load(std::memory_order_relaxed);
    snap.cumulative[i] = running;
  }
  for (size_t s = 0; s < stripes_; ++s) snap.sum += internal::load_double(slot(s, buckets));
  snap.count = running;
  return snap;
}

double HistogramSnapshot::quantile(double q) const {
  if (std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q < 0.0) return -std::numeric_limits<double>::infinity();
  if (q > 1.0) return std::numeric_limits<double>::infinity();
  if (count == 0 || bounds.empty() || cumulative.size() != bounds.size() + 1) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double rank = q * static_cast<double>(count);
  size_t b = 0;
  while (b < bounds.size() && static_cast<double>(cumulative[b]) < rank) ++b;
  if (b == bounds.size()) return bounds.back();
  if (b == 0 && bounds[0] <= 0.0) return bounds[0];
  double start = b == 0 ? 0.0 : bounds[b - 1];
  uint64_t before = b == 0 ? 0 : cumulative[b - 1];
  uint64_t in_bucket = cumulative[b] - before;
  if (in_bucket == 0) return start;
  return start + (bounds[b] - start) * ((rank - static_cast<double>(before)) / static_cast<double>(in_bucket));
}

// ---------------------------------------------------------------------------------------------
// Families.

namespace {

// Appends `{a="x",b="y"}` (with an optional last `le` pair), or nothing when there are no labels.
template <typename Values>
void append_labels(std::string& out, const std::vector<std::string>& names, const Values& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  size_t i = 0;
  for (const auto& value : values) {
    if (!first) out += ',';
    first = false;
    out += names[i++];
    out += "=\"";
    append_escaped_label_value(out, value);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

template <typename M>
Family<M>::Family(std::vector<std::string> label_names, std::shared_ptr<const std::vector<double>> bounds)
    : label_names_(std::move(label_names)), bounds_(std::move(bounds)), detached_(make_child()) {}

template <typename M>
std::unique_ptr<M> Family<M>::make_child() const {
  if constexpr (std::is_same_v<M, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<M>();
  }
}

template <typename M>
template <typename Values>
Result<M*> Family<M>::get_child(const Values& label_values) {
  if (label_values.size() != label_names_.size()) {
    return Status::invalid_argument("metric family has " + std::to_string(label_names_.size()) +
                                    " labels, given " + std::to_string(label_values.size()) + " values");
  }
  for (const auto& v : label_values) {
    if (!is_valid_utf8(v)) return Status::invalid_argument("label value is not UTF-8");
  }
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(label_values); it != live_.end()) return it->second.get();
    if (auto it = removed_.find(label_values); it != removed_.end()) {
      M* child = it->second.get();
      live_.insert(removed_.extract(it));
      return child;
    }
    if (live_.size() + removed_.size() >= kMaxFamilyChildren) {
      return Status::resource_exhausted("metric family holds " + std::to_string(kMaxFamilyChildren) +
                                        " children already");
    }
    std::vector<std::string> key(label_values.begin(), label_values.end());
    auto child = make_child();
    M* raw = child.get();
    live_.emplace(std::move(key), std::move(child));
    return raw;
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory creating a metric child");
  }
}

template <typename M>
Result<M*> Family<M>::get(std::initializer_list<std::string_view> label_values) {
  return get_child(std::span<const std::string_view>(label_values.begin(), label_values.size()));
}

template <typename M>
Result<M*> Family<M>::get(std::span<const std::string> label_values) {
  return get_child(label_values);
}

template <typename M>
M& Family<M>::with(std::initializer_list<std::string_view> label_values) {
  assert(label_values.size() == label_names_.size() && "wrong number of label values");
  auto child = get(label_values);
  return child.is_ok() ? **child : *detached_;
}

template <typename M>
bool Family<M>::remove(std::initializer_list<std::string_view> label_values) {
  std::span<const std::string_view> key(label_values.begin(), label_values.size());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(key);
  if (it == live_.end()) return false;
  removed_.insert(live_.extract(it));
  return true;
}

template <typename M>
size_t Family<M>::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

template <typename M>
void Family<M>::render(std::string& out, std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, child] : live_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      HistogramSnapshot snap = child->snapshot();
      std::string bucket_name = std::string(name) + "_bucket";
      char le[32];
      for (size_t i = 0; i <= snap.bounds.size(); ++i) {
        std::string_view le_text = "+Inf";
        if (i < snap.bounds.size()) le_text = format_double(le, sizeof le, snap.bounds[i]);
        out += bucket_name;
        append_labels(out, label_names_, values, "le", le_text);
        out += ' ';
        append_uint(out, snap.cumulative[i]);
        out += '\n';
      }
      out += name;
      out += "_sum";
      append_labels(out, label_names_, values);
      out += ' ';
      append_double(out, snap.sum);
      out += '\n';
      out += name;
      out += "_count";
      append_labels(out, label_names_, values);
      out += ' ';
      append_uint(out, snap.count);
      out += '\n';
    } else {
      out += name;
      append_labels(out, label_names_, values);
      out += ' ';
      if constexpr (std::is_same_v<M, Counter>) {
        child->render_value(out);
      } else {
        append_double(out, child->value());
      }
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------------------------
// Callbacks.

template <typename Values>
void CallbackSink::add_sample(const Values& label_values, double value) {
  if (label_values.size() != arity_) return;
  for (const auto& v : label_values) {
    if (!is_valid_utf8(v)) return;
  }
  if (samples_.find(label_values) != samples_.end()) return;
  samples_.emplace(std::vector<std::string>(label_values.begin(), label_values.end()), value);
}

template void CallbackSink::add_sample(const std::span<const std::string_view>&, double);
template void CallbackSink::add_sample(const std::span<const std::string>&, double);

// ---------------------------------------------------------------------------------------------
// Registry.

struct MetricsRegistry::Entry {
  MetricType type;
  std::string help;
  std::vector<std::string> label_names;
  std::shared_ptr<const std::vector<double>> bounds;  // histograms
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Histogram>> histograms;
  MetricCallback callback;  // set for callback metrics, which have no family

  template <typename M>
  Family<M>* family() const {
    if constexpr (std::is_same_v<M, Counter>) return counters.get();
    if constexpr (std::is_same_v<M, Gauge>) return gauges.get();
    if constexpr (std::is_same_v<M, Histogram>) return histograms.get();
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

template <typename M>
Result<Family<M>*> MetricsRegistry::family(MetricType type, std::string_view name, std::string_view help,
                                           std::vector<std::string> label_names,
                                           std::vector<double> bounds) {
  VS_RETURN_IF_ERROR(validate_metric_name(name, type));
  VS_RETURN_IF_ERROR(validate_help(help));
  VS_RETURN_IF_ERROR(validate_label_names(label_names, type));
  if (type == MetricType::kHistogram) VS_RETURN_IF_ERROR(normalize_bounds(bounds));
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(name); it != entries_.end()) {
      const Entry& e = *it->second;
      std::string prefix = "metric " + quoted(name) + " is already registered";
      if (e.callback) return Status::already_exists(prefix + " as a callback");
      if (e.type != type) return Status::already_exists(prefix + " as a " + std::string(metric_type_name(e.type)));
      if (e.label_names != label_names) return Status::already_exists(prefix + " with other label names");
      if (type == MetricType::kHistogram && *e.bounds != bounds) {
        return Status::already_exists(prefix + " with other buckets");
      }
      return e.family<M>();
    }
    auto e = std::make_unique<Entry>();
    e->type = type;
    e->help = std::string(help);
    e->label_names = label_names;
    if (type == MetricType::kHistogram) e->bounds = std::make_shared<const std::vector<double>>(std::move(bounds));
    auto fam = std::unique_ptr<Family<M>>(new Family<M>(std::move(label_names), e->bounds));
    Family<M>* raw = fam.get();
    if constexpr (std::is_same_v<M, Counter>) e->counters = std::move(fam);
    if constexpr (std::is_same_v<M, Gauge>) e->gauges = std::move(fam);
    if constexpr (std::is_same_v<M, Histogram>) e->histograms = std::move(fam);
    entries_.emplace(std::string(name), std::move(e));
    return raw;
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory registering metric " + std::string(name));
  }
}

Result<Counter*> MetricsRegistry::counter(std::string_view name, std::string_view help) {
  auto f = family<Counter>(MetricType::kCounter, name, help, {}, {});
  if (!f) return f.status();
  return (*f)->get({});
}

Result<Gauge*> MetricsRegistry::gauge(std::string_view name, std::string_view help) {
  auto f = family<Gauge>(MetricType::kGauge, name, help, {}, {});
  if (!f) return f.status();
  return (*f)->get({});
}

Result<Histogram*> MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                              std::vector<double> bounds) {
  auto f = family<Histogram>(MetricType::kHistogram, name, help, {}, std::move(bounds));
  if (!f) return f.status();
  return (*f)->get({});
}

Result<Family<Counter>*> MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                                         std::vector<std::string> label_names) {
  return family<Counter>(MetricType::kCounter, name, help, std::move(label_names), {});
}

Result<Family<Gauge>*> MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                                     std::vector<std::string> label_names) {
  return family<Gauge>(MetricType::kGauge, name, help, std::move(label_names), {});
}

Result<Family<Histogram>*> MetricsRegistry::histogram_family(std::string_view name, std::string_view help,
                                                             std::vector<std::string> label_names,
                                                             std::vector<double> bounds) {
  return family<Histogram>(MetricType::kHistogram, name, help, std::move(label_names), std::move(bounds));
}

Status MetricsRegistry::register_callback(MetricType type, std::string_view name, std::string_view help,
                                          std::function<double()> fn) {
  if (!fn) return Status::invalid_argument("metric callback is empty");
  return register_callback(type, name, help, {},
                           [fn = std::move(fn)](CallbackSink& sink) { sink.add(fn()); });
}

Status MetricsRegistry::register_callback(MetricType type, std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names, MetricCallback fn) {
  if (type == MetricType::kHistogram) {
    return Status::invalid_argument("callback metrics are counters or gauges, not histograms");
  }
  if (!fn) return Status::invalid_argument("metric callback is empty");
  VS_RETURN_IF_ERROR(validate_metric_name(name, type));
  VS_RETURN_IF_ERROR(validate_help(help));
  VS_RETURN_IF_ERROR(validate_label_names(label_names, type));
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.find(name) != entries_.end()) {
      return Status::already_exists("metric " + quoted(name) + " is already registered");
    }
    auto e = std::make_unique<Entry>();
    e->type = type;
    e->help = std::string(help);
    e->label_names = std::move(label_names);
    e->callback = std::move(fn);
    entries_.emplace(std::string(name), std::move(e));
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory registering metric " + std::string(name));
  }
}

Status MetricsRegistry::unregister_callback(std::string_view name) {
  std::unique_ptr<Entry> doomed;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || !it->second->callback) {
    return Status::not_found("no callback metric " + quoted(name));
  }
  doomed = std::move(it->second);
  entries_.erase(it);
  return Status::ok();
}

void MetricsRegistry::expose(std::string& out) const {
  try {
    std::string body;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, entry] : entries_) {
      body.clear();
      const Entry& e = *entry;
      if (e.callback) {
        CallbackSink sink(e.label_names.size());
        try {
          e.callback(sink);
        } catch (...) {
          continue;  // a failing callback loses its samples, not the scrape
        }
        for (const auto& [values, value] : sink.samples_) {
          body += name;
          append_labels(body, e.label_names, values);
          body += ' ';
          append_double(body, value);
          body += '\n';
        }
      } else if (e.counters) {
        e.counters->render(body, name);
      } else if (e.gauges) {
        e.gauges->render(body, name);
      } else if (e.histograms) {
        e.histograms->render(body, name);
      }
      if (body.empty()) continue;  // a family with no children shows nothing, as client_golang
      out += "# HELP ";
      out += name;
      out += ' ';
      append_escaped_help(out, e.help);
      out += "\n# TYPE ";
      out += name;
      out += ' ';
      out += metric_type_name(e.type);
      out += '\n';
      out += body;
    }
  } catch (...) {
    // Out of memory: the output stops short, the caller's process goes on.
  }
}

std::string MetricsRegistry::expose() const {
  std::string out;
  expose(out);
  return out;
}

MetricsRegistry& default_registry() {
  static MetricsRegistry* registry = new MetricsRegistry();
  return *registry;
}

}  // namespace vecstream::obs

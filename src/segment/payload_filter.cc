// PayloadFilter: validation and compilation of filter JSON into a flat node vector, and the
// allocation-free evaluator. See payload_filter.h for the syntax and the semantics.
//
// nlohmann::json reports errors by throwing; every call that may throw runs inside parse()'s
// try block, and the evaluator only uses the non-throwing accessors (get_ptr, object find), so
// no exception leaves this file.
#include "segment/payload_filter.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <nlohmann/json.hpp>

namespace vecstream {
namespace {

using json = nlohmann::json;

constexpr double kTwoPow63 = 9223372036854775808.0;
constexpr double kTwoPow64 = 18446744073709551616.0;

int three_way(auto a, auto b) { return a < b ? -1 : (b < a ? 1 : 0); }

// Exact comparison of a finite-or-infinite (never NaN) double with an int64.
int compare_double_signed(double d, int64_t i) {
  if (d < -kTwoPow63) return -1;
  if (d >= kTwoPow63) return 1;
  // d now lies in [-2^63, 2^63), so the truncation is defined, and trunc(d) is a double.
  const int64_t t = static_cast<int64_t>(d);
  if (t != i) return three_way(t, i);  // d lies strictly between t - 1 and t + 1
  return three_way(d, static_cast<double>(t));
}

// Exact comparison of a never-NaN double with a uint64.
int compare_double_unsigned(double d, uint64_t u) {
  if (d < 0.0) return -1;
  if (d >= kTwoPow64) return 1;
  const uint64_t t = static_cast<uint64_t>(d);
  if (t != u) return three_way(t, u);
  return three_way(d, static_cast<double>(t));
}

constexpr const char* kOperatorList = "eq, in, range, exists, and, or, not";

// Every parse error reads "<JSON path>: <what is wrong>".
Status invalid(const std::string& path, const std::string& what) {
  return Status::invalid_argument(path + ": " + what);
}

Status wrong_type(const std::string& path, const char* expected, const json& got) {
  return invalid(path, std::string("must be ") + expected + ", got " + got.type_name());
}

// A key or a string as it appears in an error message: quoted, escaped, and safe to print even
// when the bytes are not UTF-8.
std::string quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Numbers

int PayloadFilter::compare(const Number& a, const Number& b) noexcept {
  using K = Number::Kind;
  if (a.kind == K::kDouble) {
    switch (b.kind) {
      case K::kDouble: return three_way(a.d, b.d);
      case K::kSigned: return compare_double_signed(a.d, b.i);
      case K::kUnsigned: return compare_double_unsigned(a.d, b.u);
    }
  }
  if (b.kind == K::kDouble) return -compare(b, a);
  // Both integers; kSigned always holds a negative value.
  if (a.kind != b.kind) return a.kind == K::kSigned ? -1 : 1;
  return a.kind == K::kSigned ? three_way(a.i, b.i) : three_way(a.u, b.u);
}

bool PayloadFilter::number_of(const json& v, Number* out) noexcept {
  if (const auto* u = v.get_ptr<const json::number_unsigned_t*>()) {
    out->kind = Number::Kind::kUnsigned;
    out->u = *u;
    return true;
  }
  if (const auto* i = v.get_ptr<const json::number_integer_t*>()) {
    if (*i >= 0) {
      out->kind = Number::Kind::kUnsigned;
      out->u = static_cast<uint64_t>(*i);
    } else {
      out->kind = Number::Kind::kSigned;
      out->i = *i;
    }
    return true;
  }
  if (const auto* d = v.get_ptr<const json::number_float_t*>()) {
    if (std::isnan(*d)) return false;
    out->kind = Number::Kind::kDouble;
    out->d = *d;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Compilation

class PayloadFilter::Compiler {
 public:
  explicit Compiler(PayloadFilter* f) : f_(f) {}

  Status compile_node(const json& j, const std::string& path, size_t depth);
  json canonical(uint32_t node) const;

 private:
  Status compile_field(const json& field, const std::string& path, uint32_t node);
  Status add_value(const json& v, const std::string& path, ValueSet* set,
                   std::vector<Number>* numbers, std::vector<std::string>* strings);
  void store_set(ValueSet set, std::vector<Number> numbers, std::vector<std::string> strings,
                 uint32_t node);
  Status compile_range(const json& r, const std::string& path, uint32_t node);
  static Status filter_number(const json& v, const std::string& path, Number* out);
  static json number_json(const Number& n);
  json set_values(const ValueSet& set) const;
  std::string field_of(const Node& n) const;

  PayloadFilter* f_;
};

Status PayloadFilter::Compiler::compile_node(const json& j, const std::string& path,
                                             size_t depth) {
  if (depth > kMaxDepth) {
    return invalid(path, "nesting depth exceeds " + std::to_string(kMaxDepth));
  }
  if (!j.is_object()) return wrong_type(path, "a JSON object", j);
  if (f_->nodes_.size() >= kMaxNodes) {
    return invalid(path, "filter has more than " + std::to_string(kMaxNodes) + " nodes");
  }

  const json* field = nullptr;
  const json* operand = nullptr;
  std::string op_name;
  Op op = Op::kAnd;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "field") {
      field = &it.value();
      continue;
    }
    Op parsed;
    if (key == "eq") parsed = Op::kEq;
    else if (key == "in") parsed = Op::kIn;
    else if (key == "range") parsed = Op::kRange;
    else if (key == "exists") parsed = Op::kExists;
    else if (key == "and") parsed = Op::kAnd;
    else if (key == "or") parsed = Op::kOr;
    else if (key == "not") parsed = Op::kNot;
    else {
      return invalid(path, "unknown operator " + quoted(key) + " (expected one of " +
                               kOperatorList + ")");
    }
    if (operand != nullptr) {
      return invalid(path, "has both '" + op_name + "' and '" + key +
                               "'; a filter node takes exactly one operator");
    }
    operand = &it.value();
    op_name = key;
    op = parsed;
  }
  if (operand == nullptr) {
    return invalid(path, std::string("missing operator (one of ") + kOperatorList + ")");
  }

  const auto index = static_cast<uint32_t>(f_->nodes_.size());
  f_->nodes_.push_back(Node{});
  f_->nodes_[index].op = op;
  const std::string op_path = path + "." + op_name;

  switch (op) {
    case Op::kAnd:
    case Op::kOr:
    case Op::kNot:
      if (field != nullptr) return invalid(path, "'field' is not allowed with '" + op_name + "'");
      break;
    default:
      if (field == nullptr) return invalid(path, "'" + op_name + "' needs a 'field'");
      VS_RETURN_IF_ERROR(compile_field(*field, path + ".field", index));
      break;
  }

  switch (op) {
    case Op::kAnd:
    case Op::kOr: {
      if (!operand->is_array()) return wrong_type(op_path, "an array of filters", *operand);
      if (operand->empty()) return invalid(op_path, "needs at least one filter");
      for (size_t i = 0; i < operand->size(); ++i) {
        const std::string child_path = op_path + "[" + std::to_string(i) + "]";
        VS_RETURN_IF_ERROR(compile_node((*operand)[i], child_path, depth + 1));
      }
      break;
    }
    case Op::kNot:
      VS_RETURN_IF_ERROR(compile_node(*operand, op_path, depth + 1));
      break;
    case Op::kEq: {
      ValueSet set;
      std::vector<Number> numbers;
      std::vector<std::string> strings;
      VS_RETURN_IF_ERROR(add_value(*operand, op_path, &set, &numbers, &strings));
      store_set(set, std::move(numbers), std::move(strings), index);
      break;
    }
    case Op::kIn: {
      if (!operand->is_array()) return wrong_type(op_path, "an array of values", *operand);
      if (operand->size() > kMaxInValues) {
        return invalid(op_path, std::to_string(operand->size()) + " values, limit " +
                                    std::to_string(kMaxInValues));
      }
      ValueSet set;
      std::vector<Number> numbers;
      std::vector<std::string> strings;
      for (size_t i = 0; i < operand->size(); ++i) {
        VS_RETURN_IF_ERROR(add_value((*operand)[i], op_path + "[" + std::to_string(i) + "]", &set,
                                     &numbers, &strings));
      }
      store_set(set, std::move(numbers), std::move(strings), index);
      break;
    }
    case Op::kRange:
      VS_RETURN_IF_ERROR(compile_range(*operand, op_path, index));
      break;
    case Op::kExists: {
      const auto* b = operand->get_ptr<const json::boolean_t*>();
      if (b == nullptr) return wrong_type(op_path, "true or false", *operand);
      f_->nodes_[index].exists = *b;
      break;
    }
  }
  f_->nodes_[index].subtree_end = static_cast<uint32_t>(f_->nodes_.size());
  return Status::ok();
}

Status PayloadFilter::Compiler::compile_field(const json& field, const std::string& path,
                                              uint32_t node) {
  const auto* s = field.get_ptr<const std::string*>();
  if (s == nullptr) return wrong_type(path, "a string", field);
  if (s->empty()) return invalid(path, "must not be empty");
  if (s->size() > kMaxFieldBytes) {
    return invalid(path, "is " + std::to_string(s->size()) + " bytes, limit " +
                             std::to_string(kMaxFieldBytes));
  }
  if (!valid_utf8(*s)) return invalid(path, "is not valid UTF-8");
  const auto begin = static_cast<uint32_t>(f_->path_segments_.size());
  size_t start = 0;
  while (true) {
    const size_t dot = s->find('.', start);
    const size_t end = dot == std::string::npos ? s->size() : dot;
    if (end == start) return invalid(path, "empty segment in " + quoted(*s));
    f_->path_segments_.push_back(s->substr(start, end - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  f_->nodes_[node].path_begin = begin;
  f_->nodes_[node].path_count = static_cast<uint32_t>(f_->path_segments_.size()) - begin;
  return Status::ok();
}

Status PayloadFilter::Compiler::filter_number(const json& v, const std::string& path,
                                              Number* out) {
  if (const auto* d = v.get_ptr<const json::number_float_t*>()) {
    if (std::isnan(*d)) return invalid(path, "must not be NaN");
    if (std::isinf(*d)) return invalid(path, "must be finite");
    // Fold integral doubles into the integer kinds: one spelling per value in to_string().
    if (std::trunc(*d) == *d) {
      if (*d >= 0.0 && *d < kTwoPow64) {
        out->kind = Number::Kind::kUnsigned;
        out->u = static_cast<uint64_t>(*d);
        return Status::ok();
      }
      if (*d < 0.0 && *d >= -kTwoPow63) {
        out->kind = Number::Kind::kSigned;
        out->i = static_cast<int64_t>(*d);
        return Status::ok();
      }
    }
    out->kind = Number::Kind::kDouble;
    out->d = *d;
    return Status::ok();
  }
  if (!number_of(v, out)) return wrong_type(path, "a number", v);
  return Status::ok();
}

Status PayloadFilter::Compiler::add_value(const json& v, const std::string& path, ValueSet* set,
                                          std::vector<Number>* numbers,
                                          std::vector<std::string>* strings) {
  switch (v.type()) {
    case json::value_t::null:
      set->has_null = true;
      return Status::ok();
    case json::value_t::boolean:
      (v.get<bool>() ? set->has_true : set->has_false) = true;
      return Status::ok();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      Number n;
      VS_RETURN_IF_ERROR(filter_number(v, path, &n));
      numbers->push_back(n);
      return Status::ok();
    }
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (!valid_utf8(s)) return invalid(path, "string is not valid UTF-8");
      strings->push_back(s);
      return Status::ok();
    }
    default:
      return wrong_type(path, "a string, number, bool or null", v);
  }
}

void PayloadFilter::Compiler::store_set(ValueSet set, std::vector<Number> numbers,
                                        std::vector<std::string> strings, uint32_t node) {
  auto less = [](const Number& a, const Number& b) { return compare(a, b) < 0; };
  auto equal = [](const Number& a, const Number& b) { return compare(a, b) == 0; };
  std::sort(numbers.begin(), numbers.end(), less);
  numbers.erase(std::unique(numbers.begin(), numbers.end(), equal), numbers.end());
  std::sort(strings.begin(), strings.end());
  strings.erase(std::unique(strings.begin(), strings.end()), strings.end());

  set.numbers_begin = static_cast<uint32_t>(f_->numbers_.size());
  set.numbers_count = static_cast<uint32_t>(numbers.size());
  f_->numbers_.insert(f_->numbers_.end(), numbers.begin(), numbers.end());
  set.strings_begin = static_cast<uint32_t>(f_->strings_.size());
  set.strings_count = static_cast<uint32_t>(strings.size());
  for (auto& s : strings) f_->strings_.push_back(std::move(s));
  f_->nodes_[node].operand = static_cast<uint32_t>(f_->value_sets_.size());
  f_->value_sets_.push_back(set);
}

Status PayloadFilter::Compiler::compile_range(const json& r, const std::string& path,
                                              uint32_t node) {
  if (!r.is_object()) return wrong_type(path, "an object", r);
  RangeBounds bounds;
  for (auto it = r.begin(); it != r.end(); ++it) {
    const std::string& key = it.key();
    Number* slot;
    uint8_t bit;
    if (key == "gt") { slot = &bounds.gt; bit = RangeBounds::kGt; }
    else if (key == "gte") { slot = &bounds.gte; bit = RangeBounds::kGte; }
    else if (key == "lt") { slot = &bounds.lt; bit = RangeBounds::kLt; }
    else if (key == "lte") { slot = &bounds.lte; bit = RangeBounds::kLte; }
    else return invalid(path, "unknown bound " + quoted(key) + " (expected gt, gte, lt, lte)");
    VS_RETURN_IF_ERROR(filter_number(it.value(), path + "." + key, slot));
    bounds.present |= bit;
  }
  if (bounds.present == 0) return invalid(path, "needs at least one of gt/gte/lt/lte");
  f_->nodes_[node].operand = static_cast<uint32_t>(f_->ranges_.size());
  f_->ranges_.push_back(bounds);
  return Status::ok();
}

json PayloadFilter::Compiler::number_json(const Number& n) {
  switch (n.kind) {
    case Number::Kind::kSigned: return json(n.i);
    case Number::Kind::kUnsigned: return json(n.u);
    case Number::Kind::kDouble: return json(n.d);
  }
  return json();
}

json PayloadFilter::Compiler::set_values(const ValueSet& set) const {
  json out = json::array();
  if (set.has_null) out.push_back(nullptr);
  if (set.has_false) out.push_back(false);
  if (set.has_true) out.push_back(true);
  for (uint32_t k = 0; k < set.numbers_count; ++k) {
    out.push_back(number_json(f_->numbers_[set.numbers_begin + k]));
  }
  for (uint32_t k = 0; k < set.strings_count; ++k) {
    out.push_back(f_->strings_[set.strings_begin + k]);
  }
  return out;
}

std::string PayloadFilter::Compiler::field_of(const Node& n) const {
  std::string out;
  for (uint32_t k = 0; k < n.path_count; ++k) {
    if (k > 0) out += '.';
    out += f_->path_segments_[n.path_begin + k];
  }
  return out;
}

json PayloadFilter::Compiler::canonical(uint32_t index) const {
  const Node& n = f_->nodes_[index];
  json out = json::object();
  switch (n.op) {
    case Op::kAnd:
    case Op::kOr: {
      json children = json::array();
      for (uint32_t c = index + 1; c < n.subtree_end; c = f_->nodes_[c].subtree_end) {
        children.push_back(canonical(c));
      }
      out[n.op == Op::kAnd ? "and" : "or"] = std::move(children);
      break;
    }
    case Op::kNot:
      out["not"] = canonical(index + 1);
      break;
    case Op::kEq:
      out["field"] = field_of(n);
      out["eq"] = set_values(f_->value_sets_[n.operand])[0];
      break;
    case Op::kIn:
      out["field"] = field_of(n);
      out["in"] = set_values(f_->value_sets_[n.operand]);
      break;
    case Op::kRange: {
      const RangeBounds& r = f_->ranges_[n.operand];
      json bounds = json::object();
      if (r.present & RangeBounds::kGt) bounds["gt"] = number_json(r.gt);
      if (r.present & RangeBounds::kGte) bounds["gte"] = number_json(r.gte);
      if (r.present & RangeBounds::kLt) bounds["lt"] = number_json(r.lt);
      if (r.present & RangeBounds::kLte) bounds["lte"] = number_json(r.lte);
      out["field"] = field_of(n);
      out["range"] = std::move(bounds);
      break;
    }
    case Op::kExists:
      out["field"] = field_of(n);
      out["exists"] = n.exists;
      break;
  }
  return out;
}

Result<PayloadFilter> PayloadFilter::parse(const json& j) {
  try {
    PayloadFilter f;
    Compiler compiler(&f);
    VS_RETURN_IF_ERROR(compiler.compile_node(j, "filter", 1));
    f.canonical_ = compiler.canonical(0).dump();
    return f;
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory while compiling a payload filter");
  } catch (const std::exception& e) {
    return Status::internal(std::string("payload filter: unexpected error: ") + e.what());
  }
}

Result<PayloadFilter> PayloadFilter::parse(std::string_view json_text) {
  if (json_text.size() > kMaxTextBytes) {
    return Status::invalid_argument("filter text is " + std::to_string(json_text.size()) +
                                    " bytes, limit " + std::to_string(kMaxTextBytes));
  }
  json j;
  try {
    j = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 12: ...".
    std::string what = e.what();
    if (const size_t cut = what.find("] "); cut != std::string::npos) what.erase(0, cut + 2);
    return Status::invalid_argument("filter text is not valid JSON (byte " +
                                    std::to_string(e.byte) + "): " + what);
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory while parsing a payload filter");
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (const size_t cut = what.find("] "); cut != std::string::npos) what.erase(0, cut + 2);
    return Status::invalid_argument("filter text is not valid JSON: " + what);
  }
  return parse(j);
}

// ---------------------------------------------------------------------------------------------
// Evaluation

const json* PayloadFilter::resolve(const Node& n, const json& payload) const noexcept {
  const json* cur = &payload;
  for (uint32_t k = 0; k < n.path_count; ++k) {
    const auto* obj = cur->get_ptr<const json::object_t*>();
    if (obj == nullptr) return nullptr;
    const auto it = obj->find(path_segments_[n.path_begin + k]);
    if (it == obj->end()) return nullptr;
    cur = &it->second;
  }
  return cur;
}

bool PayloadFilter::value_in_set(const ValueSet& set, const json& v) const noexcept {
  switch (v.type()) {
    case json::value_t::null:
      return set.has_null;
    case json::value_t::boolean:
      return *v.get_ptr<const json::boolean_t*>() ? set.has_true : set.has_false;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      Number x;
      if (set.numbers_count == 0 || !number_of(v, &x)) return false;
      const Number* first = numbers_.data() + set.numbers_begin;
      const Number* last = first + set.numbers_count;
      const Number* it = std::lower_bound(
          first, last, x, [](const Number& a, const Number& b) { return compare(a, b) < 0; });
      return it != last && compare(*it, x) == 0;
    }
    case json::value_t::string: {
      if (set.strings_count == 0) return false;
      const std::string& s = *v.get_ptr<const std::string*>();
      const std::string* first = strings_.data() + set.strings_begin;
      const std::string* last = first + set.strings_count;
      const std::string* it = std::lower_bound(first, last, s);
      return it != last && *it == s;
    }
    default:
      return false;
  }
}

bool PayloadFilter::value_in_range(const RangeBounds& r, const json& v) noexcept {
  Number x;
  if (!number_of(v, &x)) return false;
  if ((r.present & RangeBounds::kGt) && !(compare(x, r.gt) > 0)) return false;
  if ((r.present & RangeBounds::kGte) && !(compare(x, r.gte) >= 0)) return false;
  if ((r.present & RangeBounds::kLt) && !(compare(x, r.lt) < 0)) return false;
  if ((r.present & RangeBounds::kLte) && !(compare(x, r.lte) <= 0)) return false;
  return true;
}

bool PayloadFilter::eval(uint32_t index, const json& payload) const noexcept {
  const Node& n = nodes_[index];
  switch (n.op) {
    case Op::kAnd:
      for (uint32_t c = index + 1; c < n.subtree_end; c = nodes_[c].subtree_end) {
        if (!eval(c, payload)) return false;
      }
      return true;
    case Op::kOr:
      for (uint32_t c = index + 1; c < n.subtree_end; c = nodes_[c].subtree_end) {
        if (eval(c, payload)) return true;
      }
      return false;
    case Op::kNot:
      return !eval(index + 1, payload);
    case Op::kExists:
      return (resolve(n, payload) != nullptr) == n.exists;
    case Op::kEq:
    case Op::kIn: {
      const json* v = resolve(n, payload);
      if (v == nullptr) return false;
      const ValueSet& set = value_sets_[n.operand];
      if (const auto* arr = v->get_ptr<const json::array_t*>()) {
        for (const json& e : *arr) {
          if (value_in_set(set, e)) return true;
        }
        return false;
      }
      return value_in_set(set, *v);
    }
    case Op::kRange: {
      const json* v = resolve(n, payload);
      if (v == nullptr) return false;
      const RangeBounds& r = ranges_[n.operand];
      if (const auto* arr = v->get_ptr<const json::array_t*>()) {
        for (const json& e : *arr) {
          if (value_in_range(r, e)) return true;
        }
        return false;
      }
      return value_in_range(r, *v);
    }
  }
  return false;
}

bool PayloadFilter::matches(const json& payload) const noexcept {
  return !nodes_.empty() && eval(0, payload);
}

double PayloadFilter::estimate_selectivity(
    const std::function<const json*(size_t)>& payload_at, size_t n, size_t sample,
    uint64_t seed) const {
  if (n == 0 || sample == 0) return 0.0;
  static const json kNoPayload;  // null
  auto row_matches = [&](size_t row) {
    const json* p = payload_at(row);
    return matches(p != nullptr ? *p : kNoPayload);
  };
  size_t hits = 0;
  if (n <= sample) {
    for (size_t row = 0; row < n; ++row) hits += row_matches(row) ? 1 : 0;
    return static_cast<double>(hits) / static_cast<double>(n);
  }
  // One row from each of `sample` equal slices of [0, n): covers the whole range (rows are
  // often ordered by insertion time) and is reproducible for a given seed.
  using u128 = unsigned __int128;
  uint64_t state = splitmix64(seed);
  for (size_t k = 0; k < sample; ++k) {
    const auto lo = static_cast<size_t>(static_cast<u128>(k) * n / sample);
    const auto hi = static_cast<size_t>(static_cast<u128>(k + 1) * n / sample);
    state = splitmix64(state);
    const size_t row = lo + static_cast<size_t>(state % (hi - lo));
    hits += row_matches(row) ? 1 : 0;
  }
  return static_cast<double>(hits) / static_cast<double>(sample);
}

}  // namespace vecstream

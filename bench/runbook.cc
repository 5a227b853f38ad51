// Runbook parsing (yaml-cpp), checking, simulation and generation (see runbook.h).
#include "runbook.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

namespace vecstream::bench {
namespace {

/// "line 7": where a node starts in the text (yaml-cpp counts lines from 0).
std::string where(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return "";
  return " (line " + std::to_string(m.line + 1) + ")";
}

class Parser {
 public:
  Parser(std::string source) : source_(std::move(source)) {}

  Status error(const std::string& what) const {
    return Status::invalid_argument("runbook " + source_ + ": " + what);
  }

  /// A non-negative decimal integer scalar; anything else (negative, float, hex, text) is an error.
  Status read_u64(const YAML::Node& n, const std::string& ctx, const std::string& key,
                  uint64_t* out) const {
    if (!n.IsScalar()) return error(ctx + ": '" + key + "' must be a non-negative integer" + where(n));
    const std::string& s = n.Scalar();
    const char* b = s.data();
    const char* e = s.data() + s.size();
    auto [p, ec] = std::from_chars(b, e, *out);
    if (s.empty() || ec != std::errc() || p != e || !std::isdigit(static_cast<unsigned char>(s[0]))) {
      return error(ctx + ": '" + key + "' must be a non-negative integer, got '" + s + "'" +
                   where(n));
    }
    return Status::ok();
  }

  Result<RunbookStep> step(const YAML::Node& n, size_t number) const {
    const std::string ctx = "step " + std::to_string(number);
    if (!n.IsMap()) {
      return error(ctx + ": must be a map like {operation: insert, start: 0, end: 1000}" + where(n));
    }
    std::map<std::string, YAML::Node> keys;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) return error(ctx + ": keys must be names" + where(it->first));
      const std::string k = it->first.Scalar();
      if (!keys.emplace(k, it->second).second) {
        return error(ctx + ": key '" + k + "' given twice" + where(it->first));
      }
    }
    auto op_it = keys.find("operation");
    if (op_it == keys.end()) return error(ctx + ": missing key 'operation'" + where(n));
    if (!op_it->second.IsScalar()) return error(ctx + ": 'operation' must be a name" + where(n));
    const std::string op = op_it->second.Scalar();
    RunbookStep st;
    st.number = number;
    std::vector<std::pair<const char*, uint64_t*>> fields;
    if (op == "insert" || op == "delete") {
      st.op = op == "insert" ? RunbookOp::kInsert : RunbookOp::kDelete;
      fields = {{"start", &st.start}, {"end", &st.end}};
    } else if (op == "search") {
      st.op = RunbookOp::kSearch;
    } else if (op == "replace") {
      st.op = RunbookOp::kReplace;
      fields = {{"tags_start", &st.tags_start},
                {"tags_end", &st.tags_end},
                {"ids_start", &st.ids_start},
                {"ids_end", &st.ids_end}};
    } else {
      return error(ctx + ": unknown operation '" + op +
                   "' (known: insert, delete, search, replace)" + where(op_it->second));
    }
    const std::string octx = ctx + " (" + op + ")";
    for (const auto& [key, node] : keys) {
      if (key == "operation") continue;
      bool known = false;
      for (const auto& f : fields) known = known || key == f.first;
      if (!known) return error(octx + ": unknown key '" + key + "'" + where(node));
    }
    for (const auto& [key, out] : fields) {
      auto it = keys.find(key);
      if (it == keys.end()) return error(octx + ": missing key '" + key + "'" + where(n));
      VS_RETURN_IF_ERROR(read_u64(it->second, octx, key, out));
    }
    auto check_range = [&](const char* a, uint64_t lo, const char* b, uint64_t hi) -> Status {
      if (hi < lo) {
        return error(octx + ": " + b + " = " + std::to_string(hi) + " is below " + a + " = " +
                     std::to_string(lo) + where(n));
      }
      return Status::ok();
    };
    if (st.op == RunbookOp::kInsert || st.op == RunbookOp::kDelete) {
      VS_RETURN_IF_ERROR(check_range("start", st.start, "end", st.end));
    } else if (st.op == RunbookOp::kReplace) {
      VS_RETURN_IF_ERROR(check_range("tags_start", st.tags_start, "tags_end", st.tags_end));
      VS_RETURN_IF_ERROR(check_range("ids_start", st.ids_start, "ids_end", st.ids_end));
      if (st.tags_end - st.tags_start != st.ids_end - st.ids_start) {
        return error(octx + ": tags [" + std::to_string(st.tags_start) + ", " +
                     std::to_string(st.tags_end) + ") and ids [" + std::to_string(st.ids_start) +
                     ", " + std::to_string(st.ids_end) + ") differ in length" + where(n));
      }
    }
    return st;
  }

  Result<Runbook> parse(const std::string& text, const std::string& dataset,
                        std::string* note) const {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return error("not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) +
                   ", column " + std::to_string(e.mark.column + 1) + ")");
    }
    if (!root.IsDefined() || root.IsNull()) return error("empty document");
    if (!root.IsMap()) {
      return error("the top level must map a data set name to its steps (\"" + dataset +
                   ": {max_pts: ..., 1: {...}, ...}\")");
    }
    std::vector<std::string> names;
    YAML::Node entry;
    std::string used;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string name = it->first.IsScalar() ? it->first.Scalar() : "?";
      names.push_back(name);
      if (name == dataset) {
        entry = it->second;
        used = name;
      }
    }
    if (used.empty()) {
      if (names.size() != 1) {
        std::string all;
        for (const auto& nm : names) all += (all.empty() ? "" : ", ") + nm;
        return error("no entry for data set '" + dataset + "' (it has: " + all + ")");
      }
      entry = root.begin()->second;
      used = names.front();
      if (note) {
        *note = "runbook " + source_ + " has no entry '" + dataset + "'; using its only entry '" +
                used + "'";
      }
    }
    return parse_entry(entry, used);
  }

 private:
  Result<Runbook> parse_entry(const YAML::Node& entry, const std::string& name) const {
    if (!entry.IsMap()) {
      return error("'" + name + "' must be a map of max_pts and numbered steps" + where(entry));
    }
    Runbook rb;
    rb.dataset = name;
    rb.source = source_;
    bool have_max = false;
    std::map<uint64_t, YAML::Node> steps;
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (key == "max_pts") {
        if (have_max) return error("'max_pts' given twice" + where(it->first));
        VS_RETURN_IF_ERROR(read_u64(it->second, name, "max_pts", &rb.max_pts));
        have_max = true;
        continue;
      }
      if (key == "gt_url") continue;  // big-ann-benchmarks ground-truth download: not used
      uint64_t number = 0;
      auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), number);
      if (key.empty() || ec != std::errc() || p != key.data() + key.size() || number == 0 ||
          !std::isdigit(static_cast<unsigned char>(key[0]))) {
        return error(name + ": unknown key '" + key +
                     "' (expected max_pts, gt_url or a step number 1, 2, ...)" + where(it->first));
      }
      if (!steps.emplace(number, it->second).second) {
        return error("step " + key + " given twice" + where(it->first));
      }
    }
    if (!have_max) return error(name + ": missing key 'max_pts'" + where(entry));
    if (steps.empty()) return error(name + ": no steps");
    uint64_t expect = 1;
    for (const auto& [number, node] : steps) {
      if (number != expect) {
        return error(name + ": steps must be numbered 1.." + std::to_string(steps.size()) +
                     " without gaps; step " + std::to_string(expect) + " is missing");
      }
      ++expect;
      auto st = step(node, static_cast<size_t>(number));
      if (!st) return st.status();
      rb.steps.push_back(*st);
    }
    return rb;
  }

  std::string source_;
};

}  // namespace

const char* runbook_op_name(RunbookOp op) {
  switch (op) {
    case RunbookOp::kInsert: return "insert";
    case RunbookOp::kDelete: return "delete";
    case RunbookOp::kSearch: return "search";
    case RunbookOp::kReplace: return "replace";
  }
  return "?";
}

Result<Runbook> parse_runbook(const std::string& yaml_text, const std::string& source,
                              const std::string& dataset, std::string* note) {
  return Parser(source).parse(yaml_text, dataset, note);
}

Result<Runbook> load_runbook(const std::string& path, const std::string& dataset,
                             std::string* note) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot open runbook " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::io_error("error reading runbook " + path);
  return parse_runbook(ss.str(), path, dataset, note);
}

Result<RunbookSummary> simulate_runbook(const Runbook& rb, uint64_t rows) {
  RunbookSummary s;
  std::vector<uint8_t> live(rows, 0), ever(rows, 0);
  uint64_t n_live = 0;
  auto fail = [&](const RunbookStep& st, const std::string& what) {
    return Status::invalid_argument("runbook " + rb.source + ": step " +
                                    std::to_string(st.number) + " (" + runbook_op_name(st.op) +
                                    "): " + what);
  };
  auto past = [&](const char* what, uint64_t a, uint64_t b) {
    return std::string(what) + " [" + std::to_string(a) + ", " + std::to_string(b) +
           ") go past the data set (" + std::to_string(rows) + " rows)";
  };
  for (const RunbookStep& st : rb.steps) {
    switch (st.op) {
      case RunbookOp::kSearch:
        ++s.searches;
        break;
      case RunbookOp::kInsert:
        ++s.inserts;
        if (st.end > rows) return fail(st, past("rows", st.start, st.end));
        for (uint64_t i = st.start; i < st.end; ++i) {
          if (live[i]) ++s.insert_live;
          else ++n_live;
          live[i] = ever[i] = 1;
        }
        s.rows_inserted += st.end - st.start;
        break;
      case RunbookOp::kDelete:
        ++s.deletes;
        if (st.end > rows) return fail(st, past("ids", st.start, st.end));
        for (uint64_t i = st.start; i < st.end; ++i) {
          if (!live[i]) {
            ++s.delete_not_live;
            continue;
          }
          live[i] = 0;
          --n_live;
          ++s.rows_deleted;
        }
        break;
      case RunbookOp::kReplace:
        ++s.replaces;
        if (st.tags_end > rows) return fail(st, past("tags", st.tags_start, st.tags_end));
        if (st.ids_end > rows) return fail(st, past("rows (ids)", st.ids_start, st.ids_end));
        for (uint64_t i = st.tags_start; i < st.tags_end; ++i) {
          if (!live[i]) {
            ++s.replace_not_live;
            ++n_live;
          }
          live[i] = ever[i] = 1;
        }
        s.rows_replaced += st.tags_end - st.tags_start;
        break;
    }
    if (n_live > rb.max_pts) {
      return fail(st, std::to_string(n_live) + " live points exceed max_pts = " +
                          std::to_string(rb.max_pts));
    }
    s.max_live = std::max(s.max_live, n_live);
  }
  s.final_live = n_live;
  for (uint8_t e : ever) s.distinct_ids += e;
  return s;
}

Result<Runbook> sliding_window_runbook(const SlidingRunbookParams& p) {
  if (p.rows == 0 || p.chunk == 0 || p.window == 0) {
    return Status::invalid_argument("stream-runbook: --rows, --chunk and --window must be >= 1");
  }
  Runbook rb;
  rb.dataset = p.dataset;
  rb.source = "generated";
  using Range = std::pair<uint64_t, uint64_t>;  // [first, second)
  std::deque<Range> live;     // oldest first
  std::deque<Range> deleted;  // in order of deletion
  uint64_t n_live = 0, max_live = 0;
  const uint64_t small = std::max<uint64_t>(1, p.chunk / 5);

  auto add = [&](RunbookStep st) {
    st.number = rb.steps.size() + 1;
    rb.steps.push_back(st);
    max_live = std::max(max_live, n_live);
  };
  auto search_if = [&](bool each) {
    if (each == p.search_after_each) add(RunbookStep{0, RunbookOp::kSearch});
  };

  const uint64_t rounds = (p.rows + p.chunk - 1) / p.chunk;
  for (uint64_t c = 0; c < rounds; ++c) {
    const uint64_t a = c * p.chunk, b = std::min(p.rows, a + p.chunk);
    live.push_back({a, b});
    n_live += b - a;
    RunbookStep ins{0, RunbookOp::kInsert};
    ins.start = a;
    ins.end = b;
    add(ins);
    search_if(true);

    if (n_live > p.window) {
      uint64_t excess = n_live - p.window;
      const size_t first_delete = rb.steps.size();
      while (excess > 0) {
        Range& old = live.front();
        const uint64_t n = std::min(excess, old.second - old.first);
        n_live -= n;
        excess -= n;
        if (rb.steps.size() > first_delete && rb.steps.back().end == old.first) {
          rb.steps.back().end += n;  // contiguous with this pass's last delete: one step
          deleted.back().second += n;
        } else {
          RunbookStep del{0, RunbookOp::kDelete};
          del.start = old.first;
          del.end = old.first + n;
          deleted.push_back({del.start, del.end});
          add(del);
        }
        old.first += n;
        if (old.first == old.second) live.pop_front();
      }
      search_if(true);
    }

    const bool reinsert = p.reinsert_every > 0 && (c + 1) % p.reinsert_every == 0;
    if (reinsert && !deleted.empty()) {
      Range& last = deleted.back();
      const uint64_t n = std::min(small, last.second - last.first);
      RunbookStep ins2{0, RunbookOp::kInsert};
      ins2.start = last.second - n;
      ins2.end = last.second;
      last.second -= n;
      if (last.first == last.second) deleted.pop_back();
      live.push_back({ins2.start, ins2.end});
      n_live += n;
      add(ins2);
      search_if(true);
    }

    const bool replace = p.replace_every > 0 && (c + 1) % p.replace_every == 0;
    if (replace && !deleted.empty() && n_live > 0) {
      // Tags from the middle of the live window (by age); vectors from the oldest deleted rows,
      // which are never re-inserted (re-inserts take the newest deleted rows).
      uint64_t skip = n_live / 2;
      size_t r = 0;
      while (skip >= live[r].second - live[r].first) {
        skip -= live[r].second - live[r].first;
        ++r;
      }
      const uint64_t tag0 = live[r].first + skip;
      Range& src = deleted.front();
      const uint64_t n = std::min({small, live[r].second - tag0, src.second - src.first});
      RunbookStep rep{0, RunbookOp::kReplace};
      rep.tags_start = tag0;
      rep.tags_end = tag0 + n;
      rep.ids_start = src.first;
      rep.ids_end = src.first + n;
      src.first += n;
      if (src.first == src.second) deleted.pop_front();
      add(rep);
      search_if(true);
    }
    search_if(false);
  }
  rb.max_pts = max_live;
  return rb;
}

std::string runbook_to_yaml(const Runbook& rb, const std::vector<std::string>& header) {
  std::ostringstream o;
  for (const std::string& h : header) o << "# " << h << '\n';
  o << rb.dataset << ":\n";
  o << "  max_pts: " << rb.max_pts << '\n';
  for (const RunbookStep& st : rb.steps) {
    o << "  " << st.number << ": {operation: " << runbook_op_name(st.op);
    switch (st.op) {
      case RunbookOp::kInsert:
      case RunbookOp::kDelete:
        o << ", start: " << st.start << ", end: " << st.end;
        break;
      case RunbookOp::kReplace:
        o << ", tags_start: " << st.tags_start << ", tags_end: " << st.tags_end
          << ", ids_start: " << st.ids_start << ", ids_end: " << st.ids_end;
        break;
      case RunbookOp::kSearch:
        break;
    }
    o << "}\n";
  }
  return o.str();
}

}  // namespace vecstream::bench

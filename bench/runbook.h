// Runbooks for the streaming benchmark, in the format of the big-ann-benchmarks streaming track.
//
// A runbook is a YAML file whose top-level keys are data set names. Under each, `max_pts` bounds
// the number of live points at any time, and the steps are numbered 1..N:
//
//   fashion-mnist:
//     max_pts: 30000
//     1: {operation: insert, start: 0, end: 5000}      # points with ids 0..4999 = rows 0..4999
//     2: {operation: search}                           # run the queries, score recall
//     3: {operation: delete, start: 0, end: 2500}      # delete the points with ids 0..2499
//     4: {operation: replace, tags_start: 3000, tags_end: 3100, ids_start: 100, ids_end: 200}
//                                                      # points 3000..3099 get rows 100..199
//
// Ranges are half-open. A point's id is a row number of the data set's base vectors ("tag" in the
// big-ann-benchmarks code): inserts add rows under their own number, replace gives existing ids
// the vectors of other rows. Other keys under a data set are errors, except `gt_url` (the ground
// truth download of the original runbooks), which is ignored: our ground truth is computed.
//
// Checks, each a clear INVALID_ARGUMENT naming the step: not YAML, no entry for the data set,
// missing or unknown keys, an unknown operation, values that are not non-negative integers,
// end < start, replace ranges of different lengths, steps not numbered 1..N; and, once the data
// set's size is known (simulate_runbook), ids or rows past the data set and a live count above
// max_pts. Deleting a point that is not live, or inserting one that is, is allowed (deletes skip
// it, inserts replace it) and counted in the summary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace vecstream::bench {

enum class RunbookOp { kInsert, kDelete, kSearch, kReplace };

/// "insert", "delete", "search", "replace".
const char* runbook_op_name(RunbookOp op);

struct RunbookStep {
  size_t number = 0;  // as numbered in the file (1..N)
  RunbookOp op = RunbookOp::kSearch;
  uint64_t start = 0, end = 0;            // insert / delete: ids (= rows) [start, end)
  uint64_t tags_start = 0, tags_end = 0;  // replace: the ids whose vectors change
  uint64_t ids_start = 0, ids_end = 0;    // replace: the rows that give the new vectors
};

struct Runbook {
  std::string dataset;  // the top-level key used
  uint64_t max_pts = 0;
  std::vector<RunbookStep> steps;  // in step order
  std::string source;              // file name, or a description of where it came from
};

/// Parses runbook text. `dataset` selects the top-level entry; when the text has no entry of that
/// name but exactly one entry, that one is used and *note says so (note may be null).
Result<Runbook> parse_runbook(const std::string& yaml_text, const std::string& source,
                              const std::string& dataset, std::string* note = nullptr);
/// Reads and parses a runbook file (IO_ERROR if it cannot be read).
Result<Runbook> load_runbook(const std::string& path, const std::string& dataset,
                             std::string* note = nullptr);

/// What a runbook does to a data set of `rows` base vectors, found by playing it on a model.
struct RunbookSummary {
  size_t inserts = 0, deletes = 0, replaces = 0, searches = 0;  // steps by operation
  uint64_t rows_inserted = 0;      // points written by insert steps
  uint64_t rows_replaced = 0;      // points written by replace steps
  uint64_t rows_deleted = 0;       // live points removed by delete steps
  uint64_t delete_not_live = 0;    // ids in delete steps that were not live (skipped)
  uint64_t insert_live = 0;        // ids in insert steps that were live already (replaced)
  uint64_t replace_not_live = 0;   // tags in replace steps that were not live (inserted)
  uint64_t max_live = 0;
  uint64_t final_live = 0;
  uint64_t distinct_ids = 0;       // ids that were ever live
};

/// Plays the runbook on a model of a data set with `rows` base vectors: checks that every id and
/// row is below `rows` and that the live count never passes max_pts, and sums up what it does.
Result<RunbookSummary> simulate_runbook(const Runbook& rb, uint64_t rows);

/// Parameters of a generated sliding-window runbook.
struct SlidingRunbookParams {
  std::string dataset = "fashion-mnist";
  uint64_t rows = 60000;    // rows of the data set to stream in
  uint64_t chunk = 5000;    // rows per insert step
  uint64_t window = 30000;  // live points kept: after each insert, the oldest beyond it go
  size_t replace_every = 3;   // every N-th round replaces chunk/5 live points (0 = never)
  size_t reinsert_every = 4;  // every N-th round re-inserts chunk/5 deleted rows (0 = never)
  bool search_after_each = true;  // a search after every mutation; else one per round
};

/// A runbook that streams rows [0, rows) in chunks. Round c inserts chunk c; when more than
/// `window` points are live, the oldest go (one delete step per contiguous range); every
/// reinsert_every-th round the most recently deleted chunk/5 rows come back (as the youngest
/// points); every replace_every-th round chunk/5 points from the middle of the live window get the
/// vectors of the oldest deleted rows. max_pts is the largest live count the plan reaches.
Result<Runbook> sliding_window_runbook(const SlidingRunbookParams& p);

/// The runbook as YAML that parse_runbook reads back (one flow map per step), after `header`
/// (comment lines, each written as "# ...").
std::string runbook_to_yaml(const Runbook& rb, const std::vector<std::string>& header = {});

}  // namespace vecstream::bench

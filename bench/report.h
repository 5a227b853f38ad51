// Small helpers the benchmarks share for their reports: machine facts (CPU model, resident
// memory), percentiles, and fixed-width table cells.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace vecstream::bench {

/// The "model name" of /proc/cpuinfo, or "unknown".
std::string cpu_model();
/// Resident set size of this process (VmRSS), in bytes; 0 if /proc is unavailable.
size_t rss_bytes();
/// The p-quantile (0..1) of v by nearest rank; NaN for an empty v.
double percentile(std::vector<double> v, double p);
/// printf of one number; "n/a" for NaN.
std::string fmt(const char* f, double v);
/// `s` padded with spaces to `width` columns as a terminal shows UTF-8 (µ, ÷, arrows are one
/// column each), on the right (or on the left when `right_align`).
std::string pad(const std::string& s, size_t width, bool right_align = false);
/// A line of `width` dashes.
void print_rule(size_t width);

}  // namespace vecstream::bench

// Small file-system helpers for durable files: whole-file atomic writes (temp + fsync + rename +
// directory fsync), reads, directory listing and removal, all reporting errors as Status with the
// path and errno text. The WAL and checkpoints build on these; nothing here knows their formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vecstream {

/// mkdir -p; OK if it exists.
Status make_dirs(const std::string& dir);
/// Writes `data` to "<path>.tmp-<pid>", fsyncs it, renames it over `path`, fsyncs the directory:
/// a crash leaves either the old file or the new one, never a mix.
Status write_file_atomic(const std::string& path, std::string_view data);
/// The whole file. NOT_FOUND if it does not exist.
Result<std::string> read_file(const std::string& path);
/// fsync of a directory, so renames and unlinks in it are durable.
Status fsync_dir(const std::string& dir);
/// Names (not paths) of the entries of `dir`, sorted. NOT_FOUND if `dir` does not exist.
Result<std::vector<std::string>> list_dir(const std::string& dir);
/// Removes a file or a whole tree; OK if absent.
Status remove_all(const std::string& path);
bool path_exists(const std::string& path);
/// Hard-links `from` to `to` (same file system), falling back to a copy.
Status link_or_copy(const std::string& from, const std::string& to);

}  // namespace vecstream

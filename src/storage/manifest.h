// Manifest: the one file that says which checkpoint of a shard is current.
//
// A checkpoint is a set of immutable files (segment rows, indexes, tombstones) written to temp
// names, fsynced and renamed; the manifest naming them is then written the same way and renamed
// over "MANIFEST". The rename is the commit point: recovery reads MANIFEST, so a crash before it
// leaves the previous checkpoint in force and a crash after it the new one.
//
// Format: one header line "VSMANIFEST <version> <crc32c of body, 8 hex> <body bytes>\n", then a
// JSON body:
//   { "seq": last WAL sequence number the checkpoint covers,
//     "next_segment_id": ...,
//     "offsets": { "<source>": last applied offset, ... },
//     "segments": [ { "id", "sealed", "rows", "row_files": [...], "index_file", "tombstone_file" } ] }
// File names are relative to the manifest's directory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace vecstream {

struct ManifestSegment {
  uint64_t id = 0;
  bool sealed = false;
  uint64_t rows = 0;
  std::vector<std::string> row_files;  // consecutive runs of rows, in order
  std::string index_file;              // empty: no index saved (rebuilt on load)
  std::string tombstone_file;          // empty: no tombstones
};

struct Manifest {
  uint64_t seq = 0;
  uint64_t next_segment_id = 1;
  std::map<std::string, int64_t> offsets;
  std::vector<ManifestSegment> segments;

  /// Every file the manifest references (to keep when old checkpoint files are removed).
  std::vector<std::string> files() const;
};

inline constexpr char kManifestName[] = "MANIFEST";

/// Writes `dir`/MANIFEST atomically (temp, fsync, rename, directory fsync).
Status write_manifest(const std::string& dir, const Manifest& m);
/// Reads and verifies `dir`/MANIFEST; nullopt if there is none (a fresh shard). A damaged
/// manifest is CORRUPTION naming what is wrong.
Result<std::optional<Manifest>> read_manifest(const std::string& dir);

}  // namespace vecstream

// Index files: one file per index, written atomically and verified before it is parsed.
//
// Layout (little-endian):
//
//   +---------+----------+--------+--------------------------+-------------+----------+---------+
//   | magic   | version  | kind   | body (kind-specific)     | body_bytes  | crc32    | "VSEND\0\0\0"
//   | 8 bytes | u32      | u32    | ...                      | u64         | u32 +pad |  8 bytes |
//   +---------+----------+--------+--------------------------+-------------+----------+---------+
//
// The CRC-32 (zlib) covers header and body. Writers go to "<path>.tmp-<pid>-<n>", fsync, rename
// over <path> and fsync the directory, so a crash leaves either the old file or the new one.
// Readers mmap the file, check size, magic, version, kind, trailer and CRC before handing out a
// bounds-checked cursor: a truncated or corrupted file is a CORRUPTION status, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace vecstream {

inline constexpr char kIndexFileMagic[8] = {'V', 'E', 'C', 'S', 'I', 'D', 'X', '1'};

enum class IndexKind : uint32_t {
  kFlat = 1,
  kHnsw = 2,
  kIvfFlat = 3,
  kIvfSq8 = 4,
  kIvfPq = 5,       // 8-bit PQ codes with ADC tables
  kIvfPqFastScan = 6,  // 4-bit PQ codes, blocks of 32, SIMD shuffles
  kRpForest = 7,
  kRefine = 8,
  kSq8Flat = 9,
  // Not indexes, but files of the layers above that reuse this checked container.
  kSegmentRows = 100,  // segment/segment.h: ids, vectors and payloads of a run of rows
  kTombstones = 101,   // segment/shard.cc: a segment's tombstone bits at a checkpoint
};

class IndexFileWriter {
 public:
  /// Opens a temporary file beside `path`.
  static Result<std::unique_ptr<IndexFileWriter>> open(const std::string& path, IndexKind kind,
                                                       uint32_t version);
  ~IndexFileWriter();

  void write(const void* data, size_t n);
  template <typename T>
  void put(const T& v) { write(&v, sizeof(T)); }
  template <typename T>
  void put_vector(const std::vector<T>& v) {
    put<uint64_t>(v.size());
    write(v.data(), v.size() * sizeof(T));
  }
  /// Writes the trailer, fsyncs, renames over the target, fsyncs the directory.
  Status commit();

 private:
  IndexFileWriter(std::string path, std::string tmp, FILE* f);
  std::string path_, tmp_;
  FILE* f_;
  uint32_t crc_ = 0;
  uint64_t body_bytes_ = 0;
  bool failed_ = false;
  bool committed_ = false;
};

class IndexFileReader {
 public:
  /// Maps and verifies the whole file; `version` receives the stored version.
  static Result<std::unique_ptr<IndexFileReader>> open(const std::string& path, IndexKind kind,
                                                       uint32_t max_version);
  ~IndexFileReader();

  uint32_t version() const { return version_; }
  size_t remaining() const { return end_ - pos_; }
  /// Copies n bytes out; CORRUPTION if fewer remain.
  Status read(void* out, size_t n);
  template <typename T>
  Status get(T* v) { return read(v, sizeof(T)); }
  /// Reads a vector written by put_vector, refusing counts above `max_count`.
  template <typename T>
  Status get_vector(std::vector<T>* v, uint64_t max_count) {
    uint64_t count = 0;
    VS_RETURN_IF_ERROR(get(&count));
    if (count > max_count || count * sizeof(T) > remaining()) return truncated("array");
    v->resize(count);
    return read(v->data(), count * sizeof(T));
  }
  /// Pointer to the next n bytes without copying (valid while the reader lives).
  Result<const uint8_t*> view(size_t n);
  Status truncated(const char* what) const;
  const std::string& path() const { return path_; }

 private:
  IndexFileReader() = default;
  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t map_size_ = 0;
  size_t pos_ = 0, end_ = 0;
  uint32_t version_ = 0;
};

}  // namespace vecstream

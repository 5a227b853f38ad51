// The write-ahead log: every mutation of a shard is appended here, with a sequence number, before it
// is applied, so that a restart can replay what the last checkpoint does not hold.
//
// Files. A WAL is a directory of files named "wal-<first seq, 20 digits zero-padded>.log"; the
// sequence runs on without a gap from one file to the next. A file is created under a temporary
// name, its header written and fsynced, then renamed into place and the directory fsynced, so a file
// with a final name always has a whole header. Layout (little-endian):
//
//   file header, 32 bytes
//   +----------+---------+----------+-----------+---------------+--------+
//   | magic    | version | reserved | first_seq | crc32c        | pad    |
//   | VSWAL001 | u32 = 1 | u32 = 0  | u64       | u32, masked,  | u32 =0 |
//   | 8 bytes  |         |          |           | of bytes 0-23 |        |
//   +----------+---------+----------+-----------+---------------+--------+
//
//   then records, back to back, 16 bytes of header + payload
//   +-------------+-----------------------------------+---------+-----------------------+
//   | payload_len | crc                               | seq     | payload               |
//   | u32, >= 1   | u32, masked crc32c of seq+payload | u64     | payload_len bytes     |
//   +-------------+-----------------------------------+---------+-----------------------+
//
// The CRC covers the 8 bytes of seq followed by the payload; a wrong payload_len makes it cover the
// wrong bytes, so the length is checked too. Stored CRCs are masked (core/crc32c.h).
//
// Recovery (Wal::open). Every file is read and checked. A write cut short by a crash leaves a torn
// tail: the LAST file ends in a record that is short (header or payload runs past the end of the
// file), fails its CRC, or is all zeros. Such a record and everything after it are cut off
// (ftruncate + fsync) iff no valid record (right CRC, seq >= the one expected there) starts at any
// later byte of that file; otherwise the damage is not a torn write and open() answers CORRUPTION.
// So is any bad record in a file that is not the last, a bad file header, a file whose name and
// header disagree, and a sequence that does not run on by exactly 1 across records and files. A
// CORRUPTION message names the file, the byte offset and what was wrong there.
//
// Durability (FsyncPolicy). append() returns once the record is written to the operating system
// (write(2)); a caller acknowledges a write after sync(seq) returns:
//   kAlways   sync(seq) returns once seq is on stable storage (fdatasync). Group commit: one waiting
//             caller fsyncs everything written so far, the others wait for it, so many concurrent
//             writers share one fsync. Nothing acknowledged is lost, even on power loss.
//   kInterval sync(seq) returns at once; a background thread fsyncs every interval_ms when bytes are
//             unsynced. A process crash loses nothing acknowledged (the data is in the page cache);
//             a power loss may lose up to interval_ms of acknowledged writes.
//   kNone     sync(seq) returns at once and the kernel writes back when it chooses. A process crash
//             loses nothing; a power loss may lose anything not yet written back.
// Whatever the policy, a file is fsynced before the WAL moves on to the next one (rotation), and
// creates and deletes of files are made durable with a directory fsync.
//
// Failure. A failed write or fsync puts the WAL into a failed state: that call and every later
// append, sync and truncate_before answer IO_ERROR. A record is never acknowledged half-written; a
// partial write is truncated back where possible (and otherwise is a torn tail to the next open).
// After an fsync error the kernel may have dropped the dirty pages, so retrying is not safe: the
// owner must reopen the WAL, which recovers what reached the disk.
//
// A directory is used by one Wal at a time: open() takes an exclusive flock on the directory and
// answers FAILED_PRECONDITION while another open Wal (in this or another process) holds it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"

namespace vecstream {

enum class FsyncPolicy { kAlways, kInterval, kNone };

/// "always", "interval" or "none"; INVALID_ARGUMENT for anything else.
Result<FsyncPolicy> parse_fsync_policy(std::string_view name);
/// The name parse_fsync_policy accepts for `policy`.
std::string_view fsync_policy_name(FsyncPolicy policy);

struct WalOptions {
  std::string dir;                            // created (with parents) if missing
  FsyncPolicy policy = FsyncPolicy::kAlways;
  uint32_t interval_ms = 10;                  // kInterval only; >= 1
  uint64_t file_bytes = 64ull << 20;          // start a new file rather than grow one past this
  uint32_t max_record_bytes = 64u << 20;      // largest payload append() accepts; <= 1 GiB
  uint64_t first_seq = 1;                     // sequence of the first record of an empty WAL
                                              // (a shard restored from a snapshot continues
                                              // after the snapshot's sequence number)
};

inline constexpr char kWalMagic[8] = {'V', 'S', 'W', 'A', 'L', '0', '0', '1'};
inline constexpr uint32_t kWalVersion = 1;
inline constexpr size_t kWalFileHeaderBytes = 32;
inline constexpr size_t kWalRecordHeaderBytes = 16;

/// Design: appends are serialised by one mutex and go to the current file with one write(2) each,
/// framed in a buffer the Wal keeps (no allocation once it has grown to the largest batch). fsyncs
/// run outside that mutex, so appends go on while a group-commit leader or the interval thread waits
/// for the disk. Sequence numbers start at 1; 0 means "none".
///
/// Thread-safety: every method may be called from any thread, concurrently with any other.
/// replay() reads the records that were appended when it started and is not disturbed by appends
/// or truncate_before() running meanwhile.
class Wal {
 public:
  using ReplayFn = std::function<Status(uint64_t seq, std::span<const uint8_t> payload)>;

  /// Opens (creating if needed) the WAL in options.dir, checks every file, cuts a torn tail off the
  /// last one and continues the sequence after the last good record (at 1 when there is none).
  /// CORRUPTION when the files are damaged in any other way (see the file comment);
  /// INVALID_ARGUMENT for bad options; FAILED_PRECONDITION when the directory is in use.
  static Result<std::unique_ptr<Wal>> open(const WalOptions& options);

  /// Stops the interval thread, fsyncs what is unsynced (unless failed) and closes the files.
  ~Wal();

  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  /// Calls fn(seq, payload) for every record with seq > after_seq, in order, up to the last record
  /// appended when replay() began. The payload span is valid only during the call. CRCs are checked
  /// again while reading: CORRUPTION rather than a call with bad bytes. Stops at, and returns, the
  /// first error fn returns. Complexity: reads every file that holds a seq > after_seq.
  [[nodiscard]] Status replay(uint64_t after_seq, const ReplayFn& fn) const;

  /// Appends one record and returns its seq once written (not yet durable: see sync()).
  /// INVALID_ARGUMENT (nothing written) if the payload is empty or longer than max_record_bytes;
  /// IO_ERROR if the WAL is, or now becomes, failed.
  [[nodiscard]] Result<uint64_t> append(std::span<const uint8_t> payload);

  /// Appends the payloads as records with consecutive seqs in one write(2); returns the LAST seq.
  /// INVALID_ARGUMENT (nothing written) if the batch is empty, any payload is empty or too long, or
  /// the batch totals more than 1 GiB. A batch is not atomic across a crash: recovery may find a
  /// prefix of an unacknowledged batch (each record is whole). Put what must be atomic in one record.
  [[nodiscard]] Result<uint64_t> append_batch(std::span<const std::span<const uint8_t>> payloads);

  /// Returns once `seq` (and everything before it) is durable as the policy defines it: under
  /// kAlways after an fsync that covers it (group commit, see the file comment); under kInterval and
  /// kNone at once. IO_ERROR if the WAL is failed; INVALID_ARGUMENT if seq > last_seq().
  [[nodiscard]] Status sync(uint64_t seq);

  /// fsyncs everything appended so far, whatever the policy.
  [[nodiscard]] Status sync_all();

  /// The caller has checkpointed every record <= seq: deletes each file all of whose records are
  /// <= seq, oldest first, fsyncing the directory after each (a crash leaves a gap-free suffix). If
  /// the current file qualifies, a new one is started first so appends go on. Records > seq are
  /// never deleted.
  [[nodiscard]] Status truncate_before(uint64_t seq);

  /// Seq of the last record appended (0 if none ever was).
  uint64_t last_seq() const { return last_seq_.load(); }
  /// Highest seq known to be fsynced.
  uint64_t durable_seq() const { return durable_seq_.load(); }
  /// Bytes of all WAL files, headers included.
  uint64_t disk_bytes() const { return disk_bytes_.load(); }
  /// Number of WAL files (at least 1).
  size_t file_count() const { return file_count_.load(); }
  /// The directory this WAL lives in.
  const std::string& dir() const { return options_.dir; }

 private:
  struct FileInfo {
    uint64_t first_seq;
    std::string path;
    uint64_t bytes;  // for the current file, as of the last rotation; cur_bytes_ is live
  };
  // An fd shared by the appender and an fsync running outside mu_, closed by the last owner.
  struct FileHandle {
    FileHandle(int f, std::string p) : fd(f), path(std::move(p)) {}
    ~FileHandle();
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
    const int fd;
    const std::string path;
  };

  explicit Wal(WalOptions options);

  // Common body of append and append_batch; payloads are validated by the caller.
  Result<uint64_t> append_locked(std::span<const std::span<const uint8_t>> payloads,
                                 uint64_t frame_bytes);
  // Starts a new current file whose first record will be last_seq_ + 1. Caller holds mu_.
  Status rotate_locked();
  // Group commit: returns once durable_seq_ >= seq, fsyncing as leader if nobody else is.
  Status sync_to(uint64_t seq);
  // Records the first failure and wakes every waiter; returns the failure (IO_ERROR).
  Status fail(Status cause);
  Status failed_status() const;
  void interval_loop();

  const WalOptions options_;
  int dir_fd_ = -1;  // holds the flock; used for directory fsyncs

  // ---- append state, guarded by mu_ ----
  mutable std::mutex mu_;
  std::vector<FileInfo> files_;              // oldest first; back() is the current file
  std::shared_ptr<FileHandle> current_;
  uint64_t cur_bytes_ = 0;                   // size of the current file
  std::unique_ptr<uint8_t[]> frame_;         // reused framing buffer (not zero-filled on growth)
  size_t frame_cap_ = 0;

  std::mutex truncate_mu_;                   // serialises truncate_before() calls; taken before mu_

  // ---- group commit, guarded by sync_mu_ (taken after mu_, never before it) ----
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_in_progress_ = false;
  bool stop_ = false;                        // tells the interval thread to exit
  std::condition_variable stop_cv_;
  std::thread interval_thread_;

  // ---- failure: set once, under fail_mu_ (a leaf lock) ----
  mutable std::mutex fail_mu_;
  Status failure_;
  std::atomic<bool> failed_{false};

  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint64_t> disk_bytes_{0};
  std::atomic<size_t> file_count_{0};
};

}  // namespace vecstream

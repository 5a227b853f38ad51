// The write-ahead log: recovery scan with torn-tail detection, framed appends, group commit,
// rotation and truncation. The format and the contracts are in wal.h.
//
// Reading (open's scan and replay) goes through ChunkReader, which preads 1 MiB windows, so an
// I/O error is a Status rather than the SIGBUS a mapping would give. Locks, in the only order they
// are ever nested: truncate_mu_ -> mu_ -> sync_mu_ -> fail_mu_.
#include "storage/wal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <new>
#include <optional>
#include <utility>

#include "core/crc32c.h"
#include "storage/fs.h"

namespace vecstream {
namespace {

// A record may never be longer than this, whatever the options say: it bounds the buffers a scan of
// a damaged file can ask for.
constexpr uint64_t kMaxRecordLimit = 1ull << 30;
constexpr size_t kReadChunk = 1 << 20;
// The framing buffer is given back after a batch larger than this, so one huge batch does not pin
// its size for the life of the WAL.
constexpr size_t kFrameKeepBytes = 4 << 20;
constexpr std::string_view kNamePrefix = "wal-";
constexpr std::string_view kNameSuffix = ".log";
constexpr std::string_view kTmpSuffix = ".log.tmp";
constexpr size_t kSeqDigits = 20;

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

std::string errno_text(std::string_view what, const std::string& path, int err) {
  return "wal: " + std::string(what) + " " + path + ": " + std::strerror(err);
}

std::string file_name_for(uint64_t first_seq) {
  std::string digits = std::to_string(first_seq);
  return std::string(kNamePrefix) + std::string(kSeqDigits - digits.size(), '0') + digits +
         std::string(kNameSuffix);
}

std::string join(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

// The first seq a WAL file name stands for, or nothing if `name` is not one.
std::optional<uint64_t> parse_file_name(std::string_view name) {
  if (name.size() != kNamePrefix.size() + kSeqDigits + kNameSuffix.size()) return std::nullopt;
  if (!name.starts_with(kNamePrefix) || !name.ends_with(kNameSuffix)) return std::nullopt;
  const std::string_view digits = name.substr(kNamePrefix.size(), kSeqDigits);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t seq = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

bool is_tmp_file_name(std::string_view name) {
  return name.starts_with(kNamePrefix) && name.ends_with(kTmpSuffix);
}

void encode_file_header(uint64_t first_seq, uint8_t* out) {
  std::memcpy(out, kWalMagic, sizeof(kWalMagic));
  put_u32(out + 8, kWalVersion);
  put_u32(out + 12, 0);
  put_u64(out + 16, first_seq);
  put_u32(out + 24, crc32c_mask(crc32c(out, 24)));
  put_u32(out + 28, 0);
}

// Checks a file header; on success returns its first seq.
Result<uint64_t> decode_file_header(const uint8_t* h, const std::string& path) {
  auto bad = [&](const std::string& what) {
    return Status::corruption("wal: " + path + ": bad file header at byte 0: " + what);
  };
  if (std::memcmp(h, kWalMagic, sizeof(kWalMagic)) != 0) return bad("not a WAL file (bad magic)");
  if (crc32c_unmask(get_u32(h + 24)) != crc32c(h, 24)) return bad("checksum mismatch");
  const uint32_t version = get_u32(h + 8);
  if (version != kWalVersion) return bad("unsupported version " + std::to_string(version));
  if (get_u32(h + 12) != 0 || get_u32(h + 28) != 0) return bad("reserved fields are not zero");
  const uint64_t first_seq = get_u64(h + 16);
  if (first_seq == 0) return bad("first seq is 0");
  return first_seq;
}

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Sequential-ish reads of one file through a window of at least kReadChunk bytes.
class ChunkReader {
 public:
  ChunkReader(int fd, uint64_t size, const std::string& path) : fd_(fd), size_(size), path_(path) {}

  uint64_t size() const { return size_; }

  /// Bytes [off, off + n) of the file, valid until the next call. Requires off + n <= size().
  Result<const uint8_t*> view(uint64_t off, size_t n) {
    assert(off + n <= size_);
    if (off >= start_ && off + n <= start_ + len_) return buf_.get() + (off - start_);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, kReadChunk), size_ - off));
    if (cap_ < want) {
      buf_.reset(new (std::nothrow) uint8_t[want]);
      cap_ = buf_ ? want : 0;
      len_ = 0;
      if (!buf_) return Status::resource_exhausted("wal: no memory for a " + std::to_string(want) +
                                                   "-byte read of " + path_);
    }
    size_t done = 0;
    while (done < want) {
      const ssize_t r = ::pread(fd_, buf_.get() + done, want - done, static_cast<off_t>(off + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        len_ = 0;
        return Status::io_error(errno_text("read", path_, errno));
      }
      if (r == 0) {
        len_ = 0;
        return Status::io_error("wal: " + path_ + " ended at byte " + std::to_string(off + done) +
                                " while being read (it was " + std::to_string(size_) + " bytes)");
      }
      done += static_cast<size_t>(r);
    }
    start_ = off;
    len_ = want;
    return buf_.get();
  }

 private:
  int fd_;
  uint64_t size_;
  const std::string& path_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

// What sits at one offset of a file: a complete record with a good CRC (problem empty), or the
// reason it is not one.
struct Probe {
  std::string problem;
  uint32_t len = 0;
  uint64_t seq = 0;
};

uint32_t record_crc(const uint8_t* record, uint32_t len) {
  return crc32c(record + 8, 8 + size_t{len});  // seq and payload are contiguous
}

Result<Probe> probe_record(ChunkReader& reader, uint64_t off) {
  Probe probe;
  const uint64_t left = reader.size() - off;
  if (left < kWalRecordHeaderBytes) {
    probe.problem = "truncated record header (" + std::to_string(left) + " of " +
                    std::to_string(kWalRecordHeaderBytes) + " bytes)";
    return probe;
  }
  Result<const uint8_t*> h = reader.view(off, kWalRecordHeaderBytes);
  if (!h) return h.status();
  probe.len = get_u32(*h);
  probe.seq = get_u64(*h + 8);
  const uint32_t stored = get_u32(*h + 4);
  if (probe.len == 0) {
    const bool zero = stored == 0 && probe.seq == 0;
    probe.problem = zero ? "zeroed record header" : "record with payload length 0";
    return probe;
  }
  if (probe.len > left - kWalRecordHeaderBytes) {
    probe.problem = "truncated record (payload of " + std::to_string(probe.len) +
                    " bytes runs past the end of the file)";
    return probe;
  }
  if (probe.len > kMaxRecordLimit) {
    probe.problem = "record length " + std::to_string(probe.len) + " over the 1 GiB limit";
    return probe;
  }
  Result<const uint8_t*> r = reader.view(off, kWalRecordHeaderBytes + probe.len);
  if (!r) return r.status();
  if (crc32c_unmask(stored) != record_crc(*r, probe.len)) probe.problem = "checksum mismatch";
  return probe;
}

// The first offset in [from, size) where a record with a good CRC and a seq >= `expected` starts,
// if any: the test that tells corruption (valid data follows the damage) from a torn tail. The seq
// is checked first and must be one that could fit in the bytes left, so the CRC is computed only
// at the rare offsets that look like a header.
Result<std::optional<std::pair<uint64_t, uint64_t>>> find_valid_record(ChunkReader& reader,
                                                                       uint64_t from,
                                                                       uint64_t expected) {
  const uint64_t size = reader.size();
  if (from >= size) return std::optional<std::pair<uint64_t, uint64_t>>();
  const uint64_t max_seq = expected + (size - from) / (kWalRecordHeaderBytes + 1);
  for (uint64_t p = from; p + kWalRecordHeaderBytes < size; ++p) {
    Result<const uint8_t*> h = reader.view(p, kWalRecordHeaderBytes);
    if (!h) return h.status();
    const uint64_t seq = get_u64(*h + 8);
    const uint32_t len = get_u32(*h);
    if (seq < expected || seq > max_seq) continue;
    if (len == 0 || len > size - p - kWalRecordHeaderBytes || len > kMaxRecordLimit) continue;
    const uint32_t stored = get_u32(*h + 4);
    Result<const uint8_t*> r = reader.view(p, kWalRecordHeaderBytes + len);
    if (!r) return r.status();
    if (crc32c_unmask(stored) == record_crc(*r, len)) {
      return std::optional<std::pair<uint64_t, uint64_t>>(std::make_pair(p, seq));
    }
  }
  return std::optional<std::pair<uint64_t, uint64_t>>();
}

struct ScannedFile {
  uint64_t first_seq = 0;
  uint64_t next_seq = 0;      // the seq the next record would have
  uint64_t good_bytes = 0;    // end of the last good record (or of the header)
  uint64_t size = 0;          // size on disk, torn tail included
};

// Checks one file. `expected_first` is 0 for the oldest file (it may start anywhere), else the seq
// the previous file ends before. Only the last file may end in a torn tail.
Result<ScannedFile> scan_file(const std::string& path, uint64_t name_seq, uint64_t expected_first,
                              bool is_last) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::io_error(errno_text("open", path, errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::io_error(errno_text("stat", path, errno));
  ScannedFile out;
  out.size = static_cast<uint64_t>(st.st_size);
  if (out.size < kWalFileHeaderBytes) {
    return Status::corruption("wal: " + path + ": bad file header at byte 0: the file has " +
                              std::to_string(out.size) + " bytes, the header needs " +
                              std::to_string(kWalFileHeaderBytes));
  }
  ChunkReader reader(fd.get(), out.size, path);
  Result<const uint8_t*> h = reader.view(0, kWalFileHeaderBytes);
  if (!h) return h.status();
  Result<uint64_t> first = decode_file_header(*h, path);
  if (!first) return first.status();
  out.first_seq = *first;
  if (out.first_seq != name_seq) {
    return Status::corruption("wal: " + path + ": bad file header at byte 16: first seq " +
                              std::to_string(out.first_seq) + " does not match the file name");
  }
  if (expected_first != 0 && out.first_seq != expected_first) {
    return Status::corruption("wal: " + path + ": sequence gap at byte 16: the file starts at seq " +
                              std::to_string(out.first_seq) + " but the previous file ends at seq " +
                              std::to_string(expected_first - 1));
  }
  uint64_t off = kWalFileHeaderBytes;
  uint64_t expected = out.first_seq;
  while (off < out.size) {
    Result<Probe> probe = probe_record(reader, off);
    if (!probe) return probe.status();
    if (probe->problem.empty() && probe->seq == expected) {
      off += kWalRecordHeaderBytes + probe->len;
      ++expected;
      continue;
    }
    const std::string where = "wal: " + path + ": ";
    const std::string at = " at byte " + std::to_string(off);
    if (probe->problem.empty()) {
      return Status::corruption(where + "record" + at + " has seq " + std::to_string(probe->seq) +
                                ", expected " + std::to_string(expected));
    }
    const std::string what = probe->problem + at + " (seq " + std::to_string(expected) + " expected)";
    if (!is_last) {
      return Status::corruption(where + what + " in a file that is not the last, so not a torn tail");
    }
    auto later = find_valid_record(reader, off + 1, expected);
    if (!later) return later.status();
    if (later->has_value()) {
      return Status::corruption(where + what + ", but a valid record (seq " +
                                std::to_string((*later)->second) + ") follows at byte " +
                                std::to_string((*later)->first));
    }
    break;  // a torn tail: everything from `off` on goes
  }
  out.good_bytes = off;
  out.next_seq = expected;
  return out;
}

// Creates "<dir>/wal-<first_seq>.log" holding only a header: written under a temporary name, fsynced,
// renamed, directory fsynced. Returns the fd, open for appending.
Result<int> create_wal_file(const std::string& dir, int dir_fd, uint64_t first_seq) {
  const std::string path = join(dir, file_name_for(first_seq));
  const std::string tmp = path.substr(0, path.size() - kNameSuffix.size()) + std::string(kTmpSuffix);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::io_error(errno_text("create", tmp, errno));
  uint8_t header[kWalFileHeaderBytes];
  encode_file_header(first_seq, header);
  auto give_up = [&](std::string_view what) {
    Status st = Status::io_error(errno_text(what, tmp, errno));
    ::unlink(tmp.c_str());
    return st;
  };
  ssize_t w;
  do {
    w = ::write(fd.get(), header, sizeof(header));
  } while (w < 0 && errno == EINTR);
  if (w != static_cast<ssize_t>(sizeof(header))) {
    if (w >= 0) errno = EIO;
    return give_up("write header of");
  }
  if (::fsync(fd.get()) != 0) return give_up("fsync");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return give_up("rename");
  if (::fsync(dir_fd) != 0) return Status::io_error(errno_text("fsync directory", dir, errno));
  return fd.release();
}

Status write_all(int fd, const uint8_t* p, size_t n, size_t* written) {
  *written = 0;
  while (*written < n) {
    const ssize_t w = ::write(fd, p + *written, n - *written);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::io_error(std::strerror(errno));
    if (w == 0) return Status::io_error("write made no progress");
    *written += static_cast<size_t>(w);
  }
  return Status::ok();
}

}  // namespace

Result<FsyncPolicy> parse_fsync_policy(std::string_view name) {
  if (name == "always") return FsyncPolicy::kAlways;
  if (name == "interval") return FsyncPolicy::kInterval;
  if (name == "none") return FsyncPolicy::kNone;
  return Status::invalid_argument("unknown fsync policy '" + std::string(name) +
                                  "' (expected always, interval or none)");
}

std::string_view fsync_policy_name(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways: return "always";
    case FsyncPolicy::kInterval: return "interval";
    case FsyncPolicy::kNone: return "none";
  }
  return "unknown";
}

Wal::FileHandle::~FileHandle() { ::close(fd); }

Wal::Wal(WalOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Wal>> Wal::open(const WalOptions& options) {
  if (options.dir.empty()) return Status::invalid_argument("wal: no directory given");
  if (options.policy == FsyncPolicy::kInterval && options.interval_ms == 0) {
    return Status::invalid_argument("wal: interval_ms must be at least 1");
  }
  if (options.max_record_bytes == 0 || options.max_record_bytes > kMaxRecordLimit) {
    return Status::invalid_argument("wal: max_record_bytes must be in [1, 1 GiB], not " +
                                    std::to_string(options.max_record_bytes));
  }
  if (options.file_bytes <= kWalFileHeaderBytes) {
    return Status::invalid_argument("wal: file_bytes must exceed the " +
                                    std::to_string(kWalFileHeaderBytes) + "-byte file header");
  }

  const bool existed = path_exists(options.dir);
  VS_RETURN_IF_ERROR(make_dirs(options.dir));
  if (!existed) VS_RETURN_IF_ERROR(fsync_dir(join(options.dir, "..")));

  std::unique_ptr<Wal> wal(new Wal(options));
  const std::string& dir = wal->options_.dir;
  wal->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (wal->dir_fd_ < 0) return Status::io_error(errno_text("open directory", dir, errno));
  if (::flock(wal->dir_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::failed_precondition("wal: directory " + dir + " is in use by another WAL");
    }
    return Status::io_error(errno_text("lock", dir, errno));
  }

  Result<std::vector<std::string>> names = list_dir(dir);
  if (!names) return names.status();
  std::vector<std::pair<uint64_t, std::string>> found;
  bool removed_tmp = false;
  for (const std::string& name : *names) {
    if (is_tmp_file_name(name)) {  // a rotation that crashed before its rename
      if (::unlink(join(dir, name).c_str()) != 0 && errno != ENOENT) {
        return Status::io_error(errno_text("remove", join(dir, name), errno));
      }
      removed_tmp = true;
    } else if (std::optional<uint64_t> seq = parse_file_name(name)) {
      found.emplace_back(*seq, join(dir, name));
    }
  }
  if (removed_tmp && ::fsync(wal->dir_fd_) != 0) {
    return Status::io_error(errno_text("fsync directory", dir, errno));
  }
  std::sort(found.begin(), found.end());

  uint64_t expected_first = 0;
  uint64_t total_bytes = 0;
  ScannedFile last;
  for (size_t i = 0; i < found.size(); ++i) {
    const bool is_last = i + 1 == found.size();
    Result<ScannedFile> scanned = scan_file(found[i].second, found[i].first, expected_first, is_last);
    if (!scanned) return scanned.status();
    expected_first = scanned->next_seq;
    total_bytes += scanned->good_bytes;
    wal->files_.push_back({scanned->first_seq, found[i].second, scanned->good_bytes});
    last = *scanned;
  }

  if (wal->files_.empty()) {
    const uint64_t first = std::max<uint64_t>(1, options.first_seq);
    Result<int> fd = create_wal_file(dir, wal->dir_fd_, first);
    if (!fd) return fd.status();
    wal->current_ = std::make_shared<FileHandle>(*fd, join(dir, file_name_for(first)));
    wal->files_.push_back({first, join(dir, file_name_for(first)), kWalFileHeaderBytes});
    wal->cur_bytes_ = kWalFileHeaderBytes;
    total_bytes = kWalFileHeaderBytes;
    wal->last_seq_ = first - 1;
  } else {
    const std::string& path = wal->files_.back().path;
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return Status::io_error(errno_text("open", path, errno));
    wal->current_ = std::make_shared<FileHandle>(fd, path);
    if (last.good_bytes < last.size && ::ftruncate(fd, static_cast<off_t>(last.good_bytes)) != 0) {
      return Status::io_error(errno_text("cut the torn tail of", path, errno));
    }
    // Also makes what a crashed process left in the page cache durable, so durable_seq() is true.
    if (::fsync(fd) != 0) return Status::io_error(errno_text("fsync", path, errno));
    wal->cur_bytes_ = last.good_bytes;
    wal->last_seq_ = last.next_seq - 1;
  }
  wal->durable_seq_ = wal->last_seq_.load();
  wal->disk_bytes_ = total_bytes;
  wal->file_count_ = wal->files_.size();
  if (options.policy == FsyncPolicy::kInterval) {
    wal->interval_thread_ = std::thread([w = wal.get()] { w->interval_loop(); });
  }
  return wal;
}

Wal::~Wal() {
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (interval_thread_.joinable()) interval_thread_.join();
  if (current_ && !failed_.load()) (void)sync_to(last_seq_.load());
  current_.reset();
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

Status Wal::fail(Status cause) {
  {
    std::lock_guard<std::mutex> lock(fail_mu_);
    if (!failed_.load()) {
      failure_ = Status::io_error("wal failed, reopen it to recover: " + cause.message());
      failed_.store(true);
    }
  }
  {
    std::lock_guard<std::mutex> lock(sync_mu_);  // no waiter can miss the wake-up
  }
  sync_cv_.notify_all();
  return failed_status();
}

Status Wal::failed_status() const {
  std::lock_guard<std::mutex> lock(fail_mu_);
  return failure_;
}

Result<uint64_t> Wal::append(std::span<const uint8_t> payload) {
  return append_batch(std::span<const std::span<const uint8_t>>(&payload, 1));
}

Result<uint64_t> Wal::append_batch(std::span<const std::span<const uint8_t>> payloads) {
  if (payloads.empty()) return Status::invalid_argument("wal: empty batch");
  uint64_t frame_bytes = 0;
  for (size_t i = 0; i < payloads.size(); ++i) {
    const size_t n = payloads[i].size();
    if (n == 0) return Status::invalid_argument("wal: payload " + std::to_string(i) + " is empty");
    if (n > options_.max_record_bytes) {
      return Status::invalid_argument("wal: payload of " + std::to_string(n) +
                                      " bytes exceeds max_record_bytes " +
                                      std::to_string(options_.max_record_bytes));
    }
    frame_bytes += kWalRecordHeaderBytes + n;
  }
  if (frame_bytes > kMaxRecordLimit + kWalRecordHeaderBytes && payloads.size() > 1) {
    return Status::invalid_argument("wal: batch of " + std::to_string(frame_bytes) +
                                    " bytes is over the 1 GiB limit; split it");
  }
  std::lock_guard<std::mutex> lock(mu_);
  return append_locked(payloads, frame_bytes);
}

Result<uint64_t> Wal::append_locked(std::span<const std::span<const uint8_t>> payloads,
                                    uint64_t frame_bytes) {
  if (failed_.load()) return failed_status();
  const bool current_has_records = last_seq_.load() >= files_.back().first_seq;
  if (current_has_records && cur_bytes_ + frame_bytes > options_.file_bytes) {
    VS_RETURN_IF_ERROR(rotate_locked());
  }
  if (frame_cap_ < frame_bytes) {
    frame_.reset(new (std::nothrow) uint8_t[frame_bytes]);
    frame_cap_ = frame_ ? frame_bytes : 0;
    if (!frame_) {
      return Status::resource_exhausted("wal: no memory to frame a batch of " +
                                        std::to_string(frame_bytes) + " bytes");
    }
  }
  const uint64_t first_seq = last_seq_.load() + 1;
  uint8_t* p = frame_.get();
  for (size_t i = 0; i < payloads.size(); ++i) {
    const auto len = static_cast<uint32_t>(payloads[i].size());
    put_u32(p, len);
    put_u64(p + 8, first_seq + i);
    std::memcpy(p + kWalRecordHeaderBytes, payloads[i].data(), len);
    put_u32(p + 4, crc32c_mask(record_crc(p, len)));
    p += kWalRecordHeaderBytes + len;
  }
  size_t written = 0;
  Status st = write_all(current_->fd, frame_.get(), frame_bytes, &written);
  if (frame_cap_ > kFrameKeepBytes) {
    frame_.reset();
    frame_cap_ = 0;
  }
  if (!st.is_ok()) {
    // Cut a partial record off so the file ends at a record boundary; if that fails too, the next
    // open() sees a torn tail and cuts it.
    if (written > 0) (void)::ftruncate(current_->fd, static_cast<off_t>(cur_bytes_));
    return fail(Status::io_error("write to " + current_->path + " at byte " +
                                 std::to_string(cur_bytes_) + ": " + st.message()));
  }
  cur_bytes_ += frame_bytes;
  disk_bytes_ += frame_bytes;
  const uint64_t last = first_seq + payloads.size() - 1;
  last_seq_.store(last);
  return last;
}

Status Wal::rotate_locked() {
  assert(last_seq_.load() >= files_.back().first_seq);  // an empty file is never rotated away
  // The old file is made durable before a newer one exists, so after any crash the files hold a
  // gap-free prefix of what was acknowledged, and durable_seq_ can cover the whole old file.
  if (::fdatasync(current_->fd) != 0) {
    return fail(Status::io_error(errno_text("fdatasync", current_->path, errno)));
  }
  const uint64_t last = last_seq_.load();
  const uint64_t first_seq = last + 1;
  Result<int> fd = create_wal_file(options_.dir, dir_fd_, first_seq);
  if (!fd) return fail(fd.status());
  const std::string path = join(options_.dir, file_name_for(first_seq));
  files_.back().bytes = cur_bytes_;
  files_.push_back({first_seq, path, kWalFileHeaderBytes});
  current_ = std::make_shared<FileHandle>(*fd, path);
  cur_bytes_ = kWalFileHeaderBytes;
  disk_bytes_ += kWalFileHeaderBytes;
  file_count_ = files_.size();
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    if (durable_seq_.load() < last) durable_seq_.store(last);
  }
  sync_cv_.notify_all();
  return Status::ok();
}

Status Wal::sync(uint64_t seq) {
  if (failed_.load()) return failed_status();
  if (seq > last_seq_.load()) {
    return Status::invalid_argument("wal: sync(" + std::to_string(seq) + ") but the last seq is " +
                                    std::to_string(last_seq_.load()));
  }
  if (options_.policy != FsyncPolicy::kAlways) return Status::ok();
  return sync_to(seq);
}

Status Wal::sync_all() {
  if (failed_.load()) return failed_status();
  return sync_to(last_seq_.load());
}

Status Wal::sync_to(uint64_t seq) {
  std::unique_lock<std::mutex> lock(sync_mu_);
  for (;;) {
    if (failed_.load()) return failed_status();
    if (durable_seq_.load() >= seq) return Status::ok();
    if (sync_in_progress_) {
      sync_cv_.wait(lock);
      continue;
    }
    // Become the leader: fsync everything written so far, outside every lock, so appends go on
    // and every caller that arrives meanwhile waits for this fsync or the next one.
    sync_in_progress_ = true;
    lock.unlock();
    uint64_t target = 0;
    std::shared_ptr<FileHandle> file;
    {
      std::lock_guard<std::mutex> guard(mu_);
      target = last_seq_.load();
      file = current_;
    }
    Status st;
    if (target > durable_seq_.load() && ::fdatasync(file->fd) != 0) {
      st = fail(Status::io_error(errno_text("fdatasync", file->path, errno)));
    }
    lock.lock();
    sync_in_progress_ = false;
    if (st.is_ok() && durable_seq_.load() < target) durable_seq_.store(target);
    sync_cv_.notify_all();
  }
}

void Wal::interval_loop() {
  std::unique_lock<std::mutex> lock(sync_mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms), [this] { return stop_; });
    if (stop_) break;
    const uint64_t target = last_seq_.load();
    if (failed_.load() || target <= durable_seq_.load()) continue;
    lock.unlock();
    (void)sync_to(target);  // a failure is recorded by fail() and answered to the next caller
    lock.lock();
  }
}

Status Wal::truncate_before(uint64_t seq) {
  std::lock_guard<std::mutex> serial(truncate_mu_);
  std::vector<FileInfo> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.load()) return failed_status();
    const uint64_t last = last_seq_.load();
    if (last >= files_.back().first_seq && last <= seq) VS_RETURN_IF_ERROR(rotate_locked());
    // A file that is not the current one holds [first_seq, next file's first_seq - 1].
    size_t n = 0;
    while (n + 1 < files_.size() && files_[n + 1].first_seq - 1 <= seq) ++n;
    for (size_t i = 0; i < n; ++i) disk_bytes_ -= files_[i].bytes;
    doomed.assign(std::make_move_iterator(files_.begin()),
                  std::make_move_iterator(files_.begin() + static_cast<std::ptrdiff_t>(n)));
    files_.erase(files_.begin(), files_.begin() + static_cast<std::ptrdiff_t>(n));
    file_count_ = files_.size();
  }
  // Oldest first, each delete made durable before the next: a crash part-way leaves a suffix of
  // the sequence, never a gap that the next open() would call corruption.
  for (const FileInfo& f : doomed) {
    if (::unlink(f.path.c_str()) != 0 && errno != ENOENT) {
      return Status::io_error(errno_text("remove", f.path, errno));
    }
    if (::fsync(dir_fd_) != 0) return Status::io_error(errno_text("fsync directory", options_.dir, errno));
  }
  return Status::ok();
}

Status Wal::replay(uint64_t after_seq, const ReplayFn& fn) const {
  struct Source {
    UniqueFd fd;
    std::string path;
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t bytes;
  };
  std::vector<Source> sources;
  {
    // Open every file needed while holding mu_: the fds keep the bytes readable even if
    // truncate_before() unlinks the files meanwhile, and appends only add bytes past `bytes`.
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t last = last_seq_.load();
    for (size_t i = 0; i < files_.size(); ++i) {
      const bool is_current = i + 1 == files_.size();
      const uint64_t file_last = is_current ? last : files_[i + 1].first_seq - 1;
      if (file_last <= after_seq || file_last < files_[i].first_seq) continue;
      UniqueFd fd(::open(files_[i].path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) return Status::io_error(errno_text("open", files_[i].path, errno));
      sources.push_back({std::move(fd), files_[i].path, files_[i].first_seq, file_last,
                         is_current ? cur_bytes_ : files_[i].bytes});
    }
  }
  for (const Source& src : sources) {
    ChunkReader reader(src.fd.get(), src.bytes, src.path);
    const std::string where = "wal: " + src.path + ": ";  // once per file, not per record
    if (src.bytes < kWalFileHeaderBytes) return Status::corruption(where + "file shorter than its header");
    Result<const uint8_t*> h = reader.view(0, kWalFileHeaderBytes);
    if (!h) return h.status();
    Result<uint64_t> first = decode_file_header(*h, src.path);
    if (!first) return first.status();
    if (*first != src.first_seq) {
      return Status::corruption(where + "bad file header at byte 16: first seq changed to " +
                                std::to_string(*first));
    }
    uint64_t off = kWalFileHeaderBytes;
    for (uint64_t expected = src.first_seq; expected <= src.last_seq; ++expected) {
      auto at = [&off] { return " at byte " + std::to_string(off); };
      if (src.bytes - off < kWalRecordHeaderBytes) {
        return Status::corruption(where + "record header of seq " + std::to_string(expected) +
                                  " missing" + at());
      }
      Result<const uint8_t*> rh = reader.view(off, kWalRecordHeaderBytes);
      if (!rh) return rh.status();
      const uint32_t len = get_u32(*rh);
      const uint32_t stored = get_u32(*rh + 4);
      const uint64_t seq = get_u64(*rh + 8);
      if (len == 0 || len > src.bytes - off - kWalRecordHeaderBytes || len > kMaxRecordLimit) {
        return Status::corruption(where + "bad record length " + std::to_string(len) + at());
      }
      if (seq != expected) {
        return Status::corruption(where + "record" + at() + " has seq " + std::to_string(seq) +
                                  ", expected " + std::to_string(expected));
      }
      if (seq > after_seq) {
        Result<const uint8_t*> rec = reader.view(off, kWalRecordHeaderBytes + len);
        if (!rec) return rec.status();
        if (crc32c_unmask(stored) != record_crc(*rec, len)) {
          return Status::corruption(where + "checksum mismatch" + at() + " (seq " +
                                    std::to_string(seq) + ")");
        }
        VS_RETURN_IF_ERROR(fn(seq, std::span<const uint8_t>(*rec + kWalRecordHeaderBytes, len)));
      }
      off += kWalRecordHeaderBytes + len;
    }
  }
  return Status::ok();
}

}  // namespace vecstream

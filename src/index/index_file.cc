#include "index/index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vecstream {

namespace {

constexpr char kTrailerMagic[8] = {'V', 'S', 'E', 'N', 'D', 0, 0, 0};
constexpr size_t kHeaderBytes = 8 + 4 + 4;
constexpr size_t kTrailerBytes = 8 + 4 + 4 + 8;  // body_bytes, crc, pad, magic

uint32_t crc_update(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes uInt lengths
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

Status fsync_dir_of(const std::string& path) {
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = path.substr(0, slash + 1);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Status::io_error(errno_text("open directory", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::io_error(errno_text("fsync directory", dir));
  return Status::ok();
}

std::atomic<uint64_t> g_tmp_counter{0};

}  // namespace

IndexFileWriter::IndexFileWriter(std::string path, std::string tmp, FILE* f)
    : path_(std::move(path)), tmp_(std::move(tmp)), f_(f) {}

IndexFileWriter::~IndexFileWriter() {
  if (f_ != nullptr) std::fclose(f_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Result<std::unique_ptr<IndexFileWriter>> IndexFileWriter::open(const std::string& path,
                                                               IndexKind kind, uint32_t version) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(g_tmp_counter.fetch_add(1));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::io_error(errno_text("create", tmp));
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  std::unique_ptr<IndexFileWriter> w(new IndexFileWriter(path, tmp, f));
  w->write(kIndexFileMagic, sizeof(kIndexFileMagic));
  w->put<uint32_t>(version);
  w->put<uint32_t>(static_cast<uint32_t>(kind));
  w->body_bytes_ = 0;  // the header is checksummed but not counted as body
  return w;
}

void IndexFileWriter::write(const void* data, size_t n) {
  if (failed_ || n == 0) return;
  if (std::fwrite(data, 1, n, f_) != n) failed_ = true;
  crc_ = crc_update(crc_, data, n);
  body_bytes_ += n;
}

Status IndexFileWriter::commit() {
  uint64_t body = body_bytes_;
  uint32_t crc = crc_;
  uint32_t pad = 0;
  bool ok = !failed_ && std::fwrite(&body, sizeof body, 1, f_) == 1 &&
            std::fwrite(&crc, sizeof crc, 1, f_) == 1 && std::fwrite(&pad, sizeof pad, 1, f_) == 1 &&
            std::fwrite(kTrailerMagic, sizeof kTrailerMagic, 1, f_) == 1 && std::fflush(f_) == 0;
  if (!ok) return Status::io_error(errno_text("write", tmp_));
  if (::fsync(::fileno(f_)) != 0) return Status::io_error(errno_text("fsync", tmp_));
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return Status::io_error(errno_text("close", tmp_));
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Status::io_error(errno_text("rename to", path_));
  committed_ = true;
  return fsync_dir_of(path_);
}

IndexFileReader::~IndexFileReader() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), map_size_);
}

Result<std::unique_ptr<IndexFileReader>> IndexFileReader::open(const std::string& path,
                                                               IndexKind kind,
                                                               uint32_t max_version) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return Status::not_found("no index file at " + path);
    return Status::io_error(errno_text("open", path));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::io_error(errno_text("stat", path));
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < kHeaderBytes + kTrailerBytes) {
    ::close(fd);
    return Status::corruption(path + ": truncated (" + std::to_string(size) +
                              " bytes is shorter than header and trailer)");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return Status::io_error(errno_text("mmap", path));
  std::unique_ptr<IndexFileReader> r(new IndexFileReader());
  r->path_ = path;
  r->base_ = static_cast<const uint8_t*>(m);
  r->map_size_ = size;
  const uint8_t* p = r->base_;

  if (std::memcmp(p, kIndexFileMagic, sizeof kIndexFileMagic) != 0) {
    return Status::corruption(path + ": not a Vecstream index file (bad magic)");
  }
  const uint8_t* t = p + size - kTrailerBytes;
  uint64_t body = 0;
  uint32_t crc = 0, pad = 0;
  std::memcpy(&body, t, 8);
  std::memcpy(&crc, t + 8, 4);
  std::memcpy(&pad, t + 12, 4);
  if (pad != 0 || std::memcmp(t + 16, kTrailerMagic, 8) != 0) {
    return Status::corruption(path + ": truncated or damaged trailer");
  }
  if (body != size - kHeaderBytes - kTrailerBytes) {
    return Status::corruption(path + ": body length " + std::to_string(body) +
                              " does not match the file size " + std::to_string(size));
  }
  uint32_t actual = crc_update(0, p, size - kTrailerBytes);
  if (actual != crc) return Status::corruption(path + ": checksum mismatch");
  uint32_t version = 0, stored_kind = 0;
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&stored_kind, p + 12, 4);
  if (stored_kind != static_cast<uint32_t>(kind)) {
    return Status::invalid_argument(path + ": index kind " + std::to_string(stored_kind) +
                                    " is not the kind asked for (" +
                                    std::to_string(static_cast<uint32_t>(kind)) + ")");
  }
  if (version == 0 || version > max_version) {
    return Status::corruption(path + ": unsupported format version " + std::to_string(version));
  }
  r->version_ = version;
  r->pos_ = kHeaderBytes;
  r->end_ = size - kTrailerBytes;
  return r;
}

Status IndexFileReader::truncated(const char* what) const {
  return Status::corruption(path_ + ": malformed " + std::string(what) + " at byte " +
                            std::to_string(pos_));
}

Status IndexFileReader::read(void* out, size_t n) {
  if (n > remaining()) return truncated("body (unexpected end)");
  if (n > 0) std::memcpy(out, base_ + pos_, n);
  pos_ += n;
  return Status::ok();
}

Result<const uint8_t*> IndexFileReader::view(size_t n) {
  if (n > remaining()) return truncated("body (unexpected end)");
  const uint8_t* p = base_ + pos_;
  pos_ += n;
  return p;
}

}  // namespace vecstream

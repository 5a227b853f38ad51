// Ground truth by exact search, with an on-disk cache (layout in ground_truth.h).
#include "ground_truth.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <system_error>

#include "index/flat_index.h"

namespace vecstream::bench {
namespace {

constexpr char kMagic[8] = {'V', 'S', 'G', 'T', 'R', 'U', 'T', 'H'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t metric;
  uint64_t n;
  uint64_t nq;
  uint64_t d;
  uint64_t k;
  uint64_t checksum;
  uint32_t ids_crc;
  uint32_t header_crc;  // CRC-32 of the 60 bytes before it
};
static_assert(sizeof(Header) == kHeaderSize, "the cache header is drawn in ground_truth.h");
static_assert(offsetof(Header, header_crc) == 60);

uint32_t crc_of(const void* data, size_t len) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (len > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(len, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    len -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

Header make_header(const Dataset& ds, size_t k, uint64_t checksum, const GroundTruth& gt) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.metric = static_cast<uint32_t>(ds.metric);
  h.n = ds.n;
  h.nq = ds.nq;
  h.d = ds.d;
  h.k = k;
  h.checksum = checksum;
  h.ids_crc = crc_of(gt.ids.data(), gt.ids.size() * sizeof(Id));
  h.header_crc = crc_of(&h, offsetof(Header, header_crc));
  return h;
}

std::string cache_path(const std::string& dir, const Dataset& ds, size_t k, uint64_t checksum) {
  std::string name = ds.name;
  for (char& c : name) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                      c == '.';
    if (!keep) c = '_';
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(checksum));
  return dir + "/" + name + "-" + std::string(metric_name(ds.metric)) + "-n" +
         std::to_string(ds.n) + "-nq" + std::to_string(ds.nq) + "-d" + std::to_string(ds.d) +
         "-k" + std::to_string(k) + "-" + hex + ".gt";
}

/// Reads and validates a cache file. NOT_FOUND when there is none; CORRUPTION with the reason
/// when it exists but cannot be trusted.
Result<GroundTruth> read_cache(const std::string& path, const Dataset& ds, size_t k,
                               uint64_t checksum) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(path);
  Header h{};
  if (!in.read(reinterpret_cast<char*>(&h), sizeof(h))) {
    return Status::corruption(path + ": shorter than its header");
  }
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) {
    return Status::corruption(path + ": bad magic");
  }
  if (h.header_crc != crc_of(&h, offsetof(Header, header_crc))) {
    return Status::corruption(path + ": header checksum mismatch");
  }
  if (h.version != kVersion) {
    return Status::corruption(path + ": version " + std::to_string(h.version) + ", want " +
                              std::to_string(kVersion));
  }
  if (h.metric != static_cast<uint32_t>(ds.metric) || h.n != ds.n || h.nq != ds.nq ||
      h.d != ds.d || h.k != k || h.checksum != checksum) {
    return Status::corruption(path + ": written for other data (shape, k or checksum differ)");
  }
  GroundTruth gt;
  gt.nq = ds.nq;
  gt.k = k;
  gt.ids.resize(ds.nq * k);
  const auto bytes = static_cast<std::streamsize>(gt.ids.size() * sizeof(Id));
  if (!in.read(reinterpret_cast<char*>(gt.ids.data()), bytes)) {
    return Status::corruption(path + ": truncated id block");
  }
  if (in.peek() != std::ifstream::traits_type::eof()) {
    return Status::corruption(path + ": trailing bytes after the id block");
  }
  if (h.ids_crc != crc_of(gt.ids.data(), gt.ids.size() * sizeof(Id))) {
    return Status::corruption(path + ": id block checksum mismatch");
  }
  for (Id id : gt.ids) {
    if (id >= ds.n) return Status::corruption(path + ": id out of range");
  }
  return gt;
}

Status write_all(int fd, const void* data, size_t len, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t w = ::write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(path + ": write: " + std::strerror(errno));
    }
    p += w;
    len -= static_cast<size_t>(w);
  }
  return Status::ok();
}

/// Temp file, fsync, rename: readers see the old file or the whole new one, never a torn one.
Status write_cache(const std::string& path, const Header& h, const GroundTruth& gt) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return Status::io_error("cannot create cache directory for " + path + ": " + ec.message());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error(tmp + ": open: " + std::strerror(errno));
  Status s = write_all(fd, &h, sizeof(h), tmp);
  if (s.is_ok()) s = write_all(fd, gt.ids.data(), gt.ids.size() * sizeof(Id), tmp);
  if (s.is_ok() && ::fsync(fd) != 0) s = Status::io_error(tmp + ": fsync: " + std::strerror(errno));
  if (::close(fd) != 0 && s.is_ok()) s = Status::io_error(tmp + ": close: " + std::strerror(errno));
  if (s.is_ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::io_error(path + ": rename: " + std::strerror(errno));
  }
  if (!s.is_ok()) ::unlink(tmp.c_str());
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<GroundTruth> compute_ground_truth(const Dataset& ds, size_t k, size_t threads) {
  if (k == 0 || k > ds.n) {
    return Status::invalid_argument("ground truth: k = " + std::to_string(k) +
                                    " must be in [1, n = " + std::to_string(ds.n) + "]");
  }
  auto flat = FlatIndex::create(ds.d, ds.metric, threads);
  if (!flat) return flat.status();
  std::vector<Id> ids(ds.n);
  std::iota(ids.begin(), ids.end(), Id{0});
  VS_RETURN_IF_ERROR((*flat)->add_batch(ids, ds.base));

  std::vector<Neighbor> out(ds.nq * k);
  std::vector<size_t> found(ds.nq);
  VS_RETURN_IF_ERROR((*flat)->search_batch(ds.queries, k, SearchParams{}, out, found));
  GroundTruth gt;
  gt.nq = ds.nq;
  gt.k = k;
  gt.ids.resize(ds.nq * k);
  for (size_t q = 0; q < ds.nq; ++q) {
    if (found[q] != k) {
      return Status::internal("ground truth: flat search found " + std::to_string(found[q]) +
                              " of k = " + std::to_string(k) + " for query " + std::to_string(q));
    }
    for (size_t j = 0; j < k; ++j) gt.ids[q * k + j] = out[q * k + j].id;
  }
  return gt;
}

Result<GroundTruth> load_or_compute_ground_truth(const Dataset& ds, size_t k,
                                                 const std::string& cache_dir, size_t threads,
                                                 GroundTruthInfo* info) {
  const auto t0 = std::chrono::steady_clock::now();
  *info = GroundTruthInfo{};
  uint64_t checksum = 0;
  if (!cache_dir.empty()) {
    checksum = dataset_checksum(ds);
    info->path = cache_path(cache_dir, ds, k, checksum);
    auto cached = read_cache(info->path, ds, k, checksum);
    if (cached) {
      info->from_cache = true;
      info->seconds = seconds_since(t0);
      return cached;
    }
    if (cached.status().code() != StatusCode::kNotFound) {
      info->cache_note = "ignored bad cache file (" + cached.status().message() + "); rebuilt it";
    }
  }

  auto gt = compute_ground_truth(ds, k, threads);
  if (!gt) return gt.status();
  if (!cache_dir.empty()) {
    Status s = write_cache(info->path, make_header(ds, k, checksum, *gt), *gt);
    if (!s.is_ok()) {
      if (!info->cache_note.empty()) info->cache_note += "; ";
      info->cache_note += "could not save the cache: " + s.to_string();
    }
  }
  info->seconds = seconds_since(t0);
  return gt;
}

}  // namespace vecstream::bench

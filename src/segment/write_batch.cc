#include "segment/write_batch.h"

#include <cstring>

namespace vecstream {

namespace {

constexpr uint8_t kVersion = 1;

template <typename T>
void put(std::vector<uint8_t>* out, T v) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &v, sizeof(T));
}

void put_bytes(std::vector<uint8_t>* out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out->insert(out->end(), b, b + n);
}

class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> b) : b_(b) {}
  template <typename T>
  bool get(T* v) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool bytes(size_t n, const uint8_t** p) {
    if (b_.size() - pos_ < n) return false;
    *p = b_.data() + pos_;
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

Status bad(const std::string& what) { return Status::corruption("write batch: " + what); }

}  // namespace

void encode_write_batch(const WriteBatch& b, size_t dim, std::vector<uint8_t>* out) {
  put<uint8_t>(out, kVersion);
  put<uint8_t>(out, static_cast<uint8_t>(b.op));
  put<uint16_t>(out, static_cast<uint16_t>(b.source.source.size()));
  put_bytes(out, b.source.source.data(), b.source.source.size());
  put<int64_t>(out, b.source.offset);
  put<uint32_t>(out, static_cast<uint32_t>(dim));
  put<uint32_t>(out, static_cast<uint32_t>(b.points.size()));
  std::vector<uint8_t> cbor;
  for (const PointWrite& p : b.points) {
    put<uint8_t>(out, p.id.is_string() ? 1 : 0);
    if (p.id.is_string()) {
      put<uint16_t>(out, static_cast<uint16_t>(p.id.str().size()));
      put_bytes(out, p.id.str().data(), p.id.str().size());
    } else {
      put<uint64_t>(out, p.id.num());
    }
    if (b.op != WriteOp::kUpsert) continue;
    put_bytes(out, p.vector.data(), dim * sizeof(float));
    if (p.payload.is_null()) {
      put<uint32_t>(out, 0);
    } else {
      cbor.clear();
      nlohmann::json::to_cbor(p.payload, cbor);
      put<uint32_t>(out, static_cast<uint32_t>(cbor.size()));
      put_bytes(out, cbor.data(), cbor.size());
    }
  }
}

Result<WriteBatch> decode_write_batch(std::span<const uint8_t> bytes, size_t dim) {
  Cursor c(bytes);
  uint8_t version = 0, op = 0;
  uint16_t slen = 0;
  if (!c.get(&version) || !c.get(&op) || !c.get(&slen)) return bad("truncated header");
  if (version != kVersion) return bad("unknown version " + std::to_string(version));
  if (op != 1 && op != 2) return bad("unknown op " + std::to_string(op));
  WriteBatch b;
  b.op = static_cast<WriteOp>(op);
  const uint8_t* p = nullptr;
  if (!c.bytes(slen, &p)) return bad("truncated source");
  b.source.source.assign(reinterpret_cast<const char*>(p), slen);
  uint32_t rec_dim = 0, count = 0;
  if (!c.get(&b.source.offset) || !c.get(&rec_dim) || !c.get(&count)) return bad("truncated header");
  if (rec_dim != dim) {
    return bad("dimension " + std::to_string(rec_dim) + ", shard has " + std::to_string(dim));
  }
  const size_t min_point = 9;
  if (count > bytes.size() / min_point) return bad("count " + std::to_string(count) + " too large");
  b.points.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    PointWrite& w = b.points[i];
    uint8_t tag = 0;
    if (!c.get(&tag)) return bad("truncated id");
    if (tag == 0) {
      uint64_t n = 0;
      if (!c.get(&n)) return bad("truncated id");
      w.id = PointId::number(n);
    } else if (tag == 1) {
      uint16_t len = 0;
      if (!c.get(&len) || !c.bytes(len, &p)) return bad("truncated id");
      auto id = PointId::string(std::string(reinterpret_cast<const char*>(p), len));
      if (!id.is_ok()) return bad(id.status().message());
      w.id = std::move(*id);
    } else {
      return bad("bad id tag " + std::to_string(tag));
    }
    if (b.op != WriteOp::kUpsert) continue;
    if (!c.bytes(dim * sizeof(float), &p)) return bad("truncated vector");
    w.vector.resize(dim);
    std::memcpy(w.vector.data(), p, dim * sizeof(float));
    uint32_t plen = 0;
    if (!c.get(&plen) || !c.bytes(plen, &p)) return bad("truncated payload");
    if (plen > 0) {
      w.payload = nlohmann::json::from_cbor(p, p + plen, true, false);
      if (w.payload.is_discarded()) return bad("bad payload encoding");
    }
  }
  if (!c.done()) return bad("trailing bytes");
  return b;
}

}  // namespace vecstream

// Public corpora read from the files their Debian packages install (see corpus.h).
#include "app/corpus.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

namespace vecstream {
namespace {

constexpr uint32_t kIdx3Magic = 0x00000803;  // 0x08 = unsigned byte, 0x03 = three dimensions
// No image set we load comes near this; a garbage header must not trigger a huge allocation.
constexpr uint64_t kMaxIdx3Bytes = uint64_t{1} << 34;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

/// Reads exactly `len` bytes unless the stream ends first; *got says how many arrived.
Status gz_read_fully(gzFile f, const std::string& path, void* buf, size_t len, size_t* got) {
  auto* p = static_cast<unsigned char*>(buf);
  *got = 0;
  while (*got < len) {
    // gzread takes an unsigned length and returns an int: read in chunks well below INT_MAX.
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(len - *got, 1u << 30));
    const int r = gzread(f, p + *got, chunk);
    if (r < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      // zlib's message already starts with the path.
      std::string what = msg != nullptr ? msg : path + ": gzread failed";
      // Z_ERRNO: the OS refused the read; anything else: the compressed stream is damaged.
      return errnum == Z_ERRNO ? Status::io_error(std::move(what))
                               : Status::corruption(std::move(what));
    }
    if (r == 0) break;  // end of stream
    *got += static_cast<size_t>(r);
  }
  return Status::ok();
}

uint32_t load_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

constexpr uint32_t kIdx1Magic = 0x00000801;  // unsigned bytes, one dimension

}  // namespace

Result<Idx3Images> read_idx3(const std::string& path) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) return Status::io_error("cannot open " + path);
  gzbuffer(f.get(), 1u << 20);

  unsigned char header[16];
  size_t got = 0;
  VS_RETURN_IF_ERROR(gz_read_fully(f.get(), path, header, sizeof(header), &got));
  if (got < sizeof(header)) {
    return Status::corruption(path + ": truncated idx3 header (" + std::to_string(got) +
                              " of 16 bytes)");
  }
  const uint32_t magic = load_be32(header);
  if (magic != kIdx3Magic) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), ": bad idx3 magic 0x%08x (want 0x%08x: u8 images, 3 dims)",
                  magic, kIdx3Magic);
    return Status::corruption(path + buf);
  }
  Idx3Images img;
  img.count = load_be32(header + 4);
  img.rows = load_be32(header + 8);
  img.cols = load_be32(header + 12);
  const uint64_t total = uint64_t{img.count} * img.rows * img.cols;
  if (img.count == 0 || img.rows == 0 || img.cols == 0 || total > kMaxIdx3Bytes) {
    return Status::corruption(path + ": implausible idx3 dimensions " + std::to_string(img.count) +
                              " x " + std::to_string(img.rows) + " x " + std::to_string(img.cols));
  }

  std::vector<unsigned char> raw(total);
  VS_RETURN_IF_ERROR(gz_read_fully(f.get(), path, raw.data(), raw.size(), &got));
  if (got < total) {
    return Status::corruption(path + ": truncated idx3 pixel data: header announces " +
                              std::to_string(total) + " bytes, file holds " + std::to_string(got));
  }
  // One more read makes zlib reach the gzip trailer and check its CRC-32 and length, so a damaged
  // stream that still inflated to the right size is caught; it also rejects trailing bytes.
  unsigned char extra = 0;
  VS_RETURN_IF_ERROR(gz_read_fully(f.get(), path, &extra, 1, &got));
  if (got != 0) return Status::corruption(path + ": trailing bytes after the idx3 pixel data");
  img.pixels.resize(total);
  std::transform(raw.begin(), raw.end(), img.pixels.begin(),
                 [](unsigned char b) { return static_cast<float>(b); });
  return img;
}

Result<std::vector<uint8_t>> read_idx1(const std::string& path) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) return Status::io_error("cannot open " + path);
  unsigned char header[8];
  size_t got = 0;
  VS_RETURN_IF_ERROR(gz_read_fully(f.get(), path, header, sizeof(header), &got));
  if (got < sizeof(header)) return Status::corruption(path + ": truncated idx1 header");
  if (load_be32(header) != kIdx1Magic) return Status::corruption(path + ": bad idx1 magic");
  const uint32_t count = load_be32(header + 4);
  if (count == 0 || count > (1u << 30)) {
    return Status::corruption(path + ": implausible idx1 count " + std::to_string(count));
  }
  std::vector<uint8_t> labels(count);
  VS_RETURN_IF_ERROR(gz_read_fully(f.get(), path, labels.data(), labels.size(), &got));
  if (got < count) return Status::corruption(path + ": truncated idx1 data");
  return labels;
}

const char* fashion_mnist_class(uint8_t label) {
  static const char* const kNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return label < 10 ? kNames[label] : "unknown";
}

Result<std::vector<WordNetSynset>> load_wordnet_nouns(const std::string& path, size_t max) {
  std::ifstream in(path);
  if (!in) return Status::io_error("cannot open " + path + " (Debian package wordnet-base)");
  std::vector<WordNetSynset> out;
  std::string line;
  std::vector<std::string_view> fields;
  while (out.size() < max && std::getline(in, line)) {
    if (line.empty() || line[0] == ' ') continue;  // licence header
    const size_t bar = line.find(" | ");
    if (bar == std::string::npos) continue;
    fields.clear();
    const std::string_view head(line.data(), bar);
    for (size_t i = 0; i < head.size();) {
      const size_t sp = head.find(' ', i);
      const size_t end = sp == std::string_view::npos ? head.size() : sp;
      if (end > i) fields.push_back(head.substr(i, end - i));
      i = end + 1;
    }
    if (fields.size() < 5) continue;
    WordNetSynset s;
    s.offset = std::string(fields[0]);
    const size_t w_cnt = std::strtoul(std::string(fields[3]).c_str(), nullptr, 16);
    if (4 + 2 * w_cnt >= fields.size()) continue;
    for (size_t w = 0; w < w_cnt; ++w) {
      std::string word(fields[4 + 2 * w]);
      std::replace(word.begin(), word.end(), '_', ' ');
      s.words.push_back(std::move(word));
    }
    size_t at = 4 + 2 * w_cnt;  // past the (word, lex_id) pairs
    const size_t p_cnt = std::strtoul(std::string(fields[at++]).c_str(), nullptr, 10);
    for (size_t p = 0; p < p_cnt && at + 3 < fields.size(); ++p, at += 4) {
      if ((fields[at] == "@" || fields[at] == "@i") && fields[at + 2] == "n") {
        s.hypernyms.emplace_back(fields[at + 1]);
      }
    }
    std::string gloss = line.substr(bar + 3);
    if (const size_t ex = gloss.find("; \""); ex != std::string::npos) gloss.resize(ex);
    while (!gloss.empty() && (gloss.back() == ' ' || gloss.back() == ';')) gloss.pop_back();
    if (gloss.empty()) continue;
    s.gloss = std::move(gloss);
    out.push_back(std::move(s));
  }
  if (in.bad()) return Status::io_error("error reading " + path);
  return out;
}

}  // namespace vecstream

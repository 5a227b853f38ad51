#include "storage/manifest.h"

#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/crc32c.h"
#include "storage/fs.h"

namespace vecstream {

namespace {
constexpr int kVersion = 1;
}

std::vector<std::string> Manifest::files() const {
  std::vector<std::string> out;
  for (const ManifestSegment& s : segments) {
    out.insert(out.end(), s.row_files.begin(), s.row_files.end());
    if (!s.index_file.empty()) out.push_back(s.index_file);
    if (!s.tombstone_file.empty()) out.push_back(s.tombstone_file);
  }
  return out;
}

Status write_manifest(const std::string& dir, const Manifest& m) {
  nlohmann::json j;
  j["seq"] = m.seq;
  j["next_segment_id"] = m.next_segment_id;
  j["offsets"] = nlohmann::json::object();
  for (const auto& [src, off] : m.offsets) j["offsets"][src] = off;
  j["segments"] = nlohmann::json::array();
  for (const ManifestSegment& s : m.segments) {
    j["segments"].push_back({{"id", s.id},
                             {"sealed", s.sealed},
                             {"rows", s.rows},
                             {"row_files", s.row_files},
                             {"index_file", s.index_file},
                             {"tombstone_file", s.tombstone_file}});
  }
  const std::string body = j.dump(1);
  char header[96];
  std::snprintf(header, sizeof(header), "VSMANIFEST %d %08x %zu\n", kVersion,
                crc32c(body.data(), body.size()), body.size());
  return write_file_atomic(dir + "/" + kManifestName, std::string(header) + body);
}

Result<std::optional<Manifest>> read_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kManifestName;
  auto text = read_file(path);
  if (!text.is_ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<Manifest>();
    return text.status();
  }
  const std::string& t = *text;
  const size_t nl = t.find('\n');
  if (nl == std::string::npos) return Status::corruption(path + ": no header line");
  int version = 0;
  unsigned crc = 0;
  size_t len = 0;
  if (std::sscanf(t.substr(0, nl).c_str(), "VSMANIFEST %d %x %zu", &version, &crc, &len) != 3) {
    return Status::corruption(path + ": bad header line");
  }
  if (version != kVersion) {
    return Status::corruption(path + ": unsupported version " + std::to_string(version));
  }
  const std::string body = t.substr(nl + 1);
  if (body.size() != len) {
    return Status::corruption(path + ": body is " + std::to_string(body.size()) +
                              " bytes, header says " + std::to_string(len));
  }
  if (crc32c(body.data(), body.size()) != crc) return Status::corruption(path + ": checksum mismatch");
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption(path + ": body is not JSON");
  Manifest m;
  try {
    m.seq = j.at("seq").get<uint64_t>();
    m.next_segment_id = j.at("next_segment_id").get<uint64_t>();
    for (auto it = j.at("offsets").begin(); it != j.at("offsets").end(); ++it) {
      m.offsets[it.key()] = it.value().get<int64_t>();
    }
    for (const auto& s : j.at("segments")) {
      ManifestSegment ms;
      ms.id = s.at("id").get<uint64_t>();
      ms.sealed = s.at("sealed").get<bool>();
      ms.rows = s.at("rows").get<uint64_t>();
      ms.row_files = s.at("row_files").get<std::vector<std::string>>();
      ms.index_file = s.at("index_file").get<std::string>();
      ms.tombstone_file = s.at("tombstone_file").get<std::string>();
      m.segments.push_back(std::move(ms));
    }
  } catch (const std::exception& e) {
    return Status::corruption(path + ": " + e.what());
  }
  return std::optional<Manifest>(std::move(m));
}

}  // namespace vecstream

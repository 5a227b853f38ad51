// Write-ahead log: round trips, recovery after every kind of damage the format promises to tell
// apart (torn tails are cut, everything else is CORRUPTION naming file and offset), rotation and
// truncation, the three fsync policies, the failed state, group commit under many threads, and a
// crash test that SIGKILLs a writer at random moments and checks every acknowledged record survives.
//
// Every test works in its own directory under /tmp, removed at the end. Payloads are derived from
// their seq (or thread and index), so content can be checked byte for byte after a reopen.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "storage/wal.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const ::vecstream::Status vs_st_ = (expr);                \
    ASSERT_TRUE(vs_st_.is_ok()) << vs_st_.to_string();        \
  } while (0)

// The WAL directory inside a test's temporary directory (not created: open() must create it).
std::string wal_dir(const testing::TempDir& tmp) { return tmp / "wal"; }

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::vector<uint8_t> make_payload(uint64_t key, size_t len) {
  std::vector<uint8_t> out(len);
  uint64_t state = mix64(key);
  for (size_t i = 0; i < len; ++i) {
    if (i % 8 == 0) state = mix64(state + i);
    out[i] = static_cast<uint8_t>(state >> (8 * (i % 8)));
  }
  return out;
}

uint64_t hash_bytes(std::span<const uint8_t> b) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t c : b) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

struct Rec {
  uint64_t seq;
  std::vector<uint8_t> payload;
};

std::vector<Rec> replay_all(const Wal& wal, uint64_t after = 0) {
  std::vector<Rec> out;
  Status st = wal.replay(after, [&](uint64_t seq, std::span<const uint8_t> p) {
    out.push_back({seq, std::vector<uint8_t>(p.begin(), p.end())});
    return Status::ok();
  });
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

WalOptions options_for(const std::string& dir, FsyncPolicy policy = FsyncPolicy::kNone) {
  WalOptions o;
  o.dir = dir;
  o.policy = policy;
  return o;
}

std::unique_ptr<Wal> open_ok(const WalOptions& o) {
  Result<std::unique_ptr<Wal>> w = Wal::open(o);
  EXPECT_TRUE(w.is_ok()) << w.status().to_string();
  return w.is_ok() ? std::move(*w) : nullptr;
}

std::string file_name(uint64_t first_seq) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "wal-%020llu.log", static_cast<unsigned long long>(first_seq));
  return buf;
}

// Paths of the WAL files in `dir`, oldest first.
std::vector<std::string> wal_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("wal-") && name.ends_with(".log")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t first_seq_of(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  return std::stoull(name.substr(4, 20));
}

uint64_t file_size(const std::string& path) { return std::filesystem::file_size(path); }

uint64_t total_size(const std::string& dir) {
  uint64_t total = 0;
  for (const std::string& f : wal_files(dir)) total += file_size(f);
  return total;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::vector<uint8_t> b = read_bytes(path);
  ASSERT_LT(offset, b.size());
  b[offset] ^= 0x5a;
  write_bytes(path, b);
}

void append_raw(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Appends `n` records whose payloads are make_payload(seq, len) and checks their seqs.
void append_n(Wal& wal, uint64_t n, size_t len) {
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t seq = wal.last_seq() + 1;
    std::vector<uint8_t> p = make_payload(seq, len);
    Result<uint64_t> r = wal.append(p);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(*r, seq);
  }
}

void expect_records(const std::vector<Rec>& recs, uint64_t first, uint64_t last, size_t len) {
  ASSERT_EQ(recs.size(), last >= first ? last - first + 1 : 0);
  for (size_t i = 0; i < recs.size(); ++i) {
    ASSERT_EQ(recs[i].seq, first + i);
    ASSERT_EQ(recs[i].payload, make_payload(first + i, len)) << "seq " << first + i;
  }
}

constexpr uint64_t record_bytes(size_t payload) { return kWalRecordHeaderBytes + payload; }

// ---------------------------------------------------------------------------------------------

TEST(FsyncPolicy, ParsesAndNames) {
  for (FsyncPolicy p : {FsyncPolicy::kAlways, FsyncPolicy::kInterval, FsyncPolicy::kNone}) {
    Result<FsyncPolicy> back = parse_fsync_policy(fsync_policy_name(p));
    ASSERT_TRUE(back.is_ok());
    EXPECT_EQ(*back, p);
  }
  EXPECT_EQ(*parse_fsync_policy("always"), FsyncPolicy::kAlways);
  EXPECT_EQ(*parse_fsync_policy("interval"), FsyncPolicy::kInterval);
  EXPECT_EQ(*parse_fsync_policy("none"), FsyncPolicy::kNone);
  for (std::string_view bad : {"", "Always", "sometimes", "none "}) {
    Result<FsyncPolicy> r = parse_fsync_policy(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Wal, RejectsBadOptionsAndASecondOpener) {
  testing::TempDir tmp;
  WalOptions o = options_for(wal_dir(tmp));
  o.max_record_bytes = 0;
  EXPECT_EQ(Wal::open(o).status().code(), StatusCode::kInvalidArgument);
  o = options_for("");
  EXPECT_EQ(Wal::open(o).status().code(), StatusCode::kInvalidArgument);
  o = options_for(wal_dir(tmp), FsyncPolicy::kInterval);
  o.interval_ms = 0;
  EXPECT_EQ(Wal::open(o).status().code(), StatusCode::kInvalidArgument);
  o = options_for(wal_dir(tmp));
  o.file_bytes = kWalFileHeaderBytes;
  EXPECT_EQ(Wal::open(o).status().code(), StatusCode::kInvalidArgument);

  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
  ASSERT_NE(wal, nullptr);
  Result<std::unique_ptr<Wal>> second = Wal::open(options_for(wal_dir(tmp)));
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  wal.reset();
  EXPECT_TRUE(Wal::open(options_for(wal_dir(tmp))).is_ok());
}

TEST(Wal, RoundTripsRecordsOfManySizes) {
  testing::TempDir tmp;
  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp), FsyncPolicy::kAlways));
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(wal->last_seq(), 0u);
  EXPECT_EQ(wal->file_count(), 1u);
  EXPECT_EQ(wal->disk_bytes(), kWalFileHeaderBytes);
  EXPECT_EQ(replay_all(*wal).size(), 0u);

  const size_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000, 4095, 4096, 4097, 65537,
                          1 << 20};
  std::map<uint64_t, std::vector<uint8_t>> expected;
  std::mt19937 rng(1);
  for (int i = 0; i < 300; ++i) {
    const size_t len = i < 18 ? sizes[i] : 1 + rng() % 3000;
    std::vector<uint8_t> p = make_payload(1000 + i, len);
    Result<uint64_t> seq = wal->append(p);
    ASSERT_TRUE(seq.is_ok()) << seq.status().to_string();
    ASSERT_EQ(*seq, static_cast<uint64_t>(i + 1));
    expected[*seq] = std::move(p);
    if (i % 50 == 0) ASSERT_OK(wal->sync(*seq));
  }
  // Batches: consecutive seqs, the last one returned.
  std::vector<std::vector<uint8_t>> batch = {make_payload(1, 5), make_payload(2, 500), make_payload(3, 1)};
  std::vector<std::span<const uint8_t>> spans(batch.begin(), batch.end());
  Result<uint64_t> last = wal->append_batch(spans);
  ASSERT_TRUE(last.is_ok());
  EXPECT_EQ(*last, 303u);
  for (size_t i = 0; i < batch.size(); ++i) expected[301 + i] = batch[i];

  // Empty payloads and batches are refused and change nothing.
  const uint64_t bytes_before = wal->disk_bytes();
  Result<uint64_t> empty = wal->append(std::span<const uint8_t>());
  ASSERT_FALSE(empty.is_ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->append_batch({}).status().code(), StatusCode::kInvalidArgument);
  std::vector<uint8_t> good = make_payload(9, 10);
  std::vector<std::span<const uint8_t>> with_empty = {good, std::span<const uint8_t>()};
  EXPECT_EQ(wal->append_batch(with_empty).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->last_seq(), 303u);
  EXPECT_EQ(wal->disk_bytes(), bytes_before);
  EXPECT_EQ(total_size(wal_dir(tmp)), bytes_before);
  EXPECT_EQ(wal->sync(304).code(), StatusCode::kInvalidArgument);

  ASSERT_OK(wal->sync(303));
  EXPECT_EQ(wal->durable_seq(), 303u);
  std::vector<Rec> recs = replay_all(*wal);
  ASSERT_EQ(recs.size(), expected.size());
  for (const Rec& r : recs) ASSERT_EQ(r.payload, expected[r.seq]) << "seq " << r.seq;

  wal.reset();
  wal = open_ok(options_for(wal_dir(tmp)));
  recs = replay_all(*wal);
  ASSERT_EQ(recs.size(), expected.size());
  for (const Rec& r : recs) ASSERT_EQ(r.payload, expected[r.seq]) << "seq " << r.seq;
}

TEST(Wal, ReopenContinuesTheSequence) {
  testing::TempDir tmp;
  {
    std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
    append_n(*wal, 10, 20);
  }
  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
  EXPECT_EQ(wal->last_seq(), 10u);
  EXPECT_EQ(wal->durable_seq(), 10u);
  append_n(*wal, 1, 20);
  EXPECT_EQ(wal->last_seq(), 11u);
  wal.reset();
  wal = open_ok(options_for(wal_dir(tmp)));
  expect_records(replay_all(*wal), 1, 11, 20);
}

TEST(Wal, ReplaySkipsUpToAfterSeqAndStopsOnError) {
  testing::TempDir tmp;
  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
  append_n(*wal, 50, 33);
  expect_records(replay_all(*wal, 20), 21, 50, 33);
  EXPECT_TRUE(replay_all(*wal, 50).empty());
  EXPECT_TRUE(replay_all(*wal, 1000).empty());

  int calls = 0;
  Status st = wal->replay(0, [&](uint64_t seq, std::span<const uint8_t>) {
    ++calls;
    return seq == 7 ? Status::internal("stop at 7") : Status::ok();
  });
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_EQ(st.message(), "stop at 7");
  EXPECT_EQ(calls, 7);
}

// Damage that appears after open() is caught by replay: fn never sees the bad bytes.
TEST(Wal, ReplayChecksChecksumsAgain) {
  testing::TempDir tmp;
  constexpr size_t kLen = 30;
  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
  append_n(*wal, 5, kLen);
  const uint64_t record3 = kWalFileHeaderBytes + 2 * record_bytes(kLen);
  flip_byte(wal_dir(tmp) + "/" + file_name(1), record3 + kWalRecordHeaderBytes + 7);
  std::vector<uint64_t> seen;
  Status st = wal->replay(0, [&](uint64_t seq, std::span<const uint8_t>) {
    seen.push_back(seq);
    return Status::ok();
  });
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find(file_name(1)), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("at byte " + std::to_string(record3)), std::string::npos) << st.message();
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
  // Records before the damage can still be skipped past without reading their payloads.
  EXPECT_EQ(wal->replay(3, [](uint64_t, std::span<const uint8_t>) { return Status::ok(); }).code(),
            StatusCode::kOk);
}

TEST(Wal, RotatesFilesAndReplaysAcrossThem) {
  testing::TempDir tmp;
  WalOptions o = options_for(wal_dir(tmp));
  o.file_bytes = 512;
  std::unique_ptr<Wal> wal = open_ok(o);
  append_n(*wal, 200, 40);  // 56-byte records: 8 per file
  std::vector<std::string> files = wal_files(wal_dir(tmp));
  ASSERT_EQ(files.size(), 25u);
  EXPECT_EQ(wal->file_count(), files.size());
  EXPECT_EQ(wal->disk_bytes(), total_size(wal_dir(tmp)));
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(std::filesystem::path(files[i]).filename().string(), file_name(1 + 8 * i));
    EXPECT_LE(file_size(files[i]), o.file_bytes);
  }
  // Rotation fsyncs the file it leaves, even under kNone.
  EXPECT_GE(wal->durable_seq(), 192u);
  expect_records(replay_all(*wal), 1, 200, 40);
  expect_records(replay_all(*wal, 13), 14, 200, 40);

  // A record larger than file_bytes still goes in, alone in its file.
  std::vector<uint8_t> big = make_payload(201, 2000);
  ASSERT_EQ(*wal->append(big), 201u);
  append_n(*wal, 3, 40);
  wal.reset();
  wal = open_ok(o);
  std::vector<Rec> recs = replay_all(*wal);
  ASSERT_EQ(recs.size(), 204u);
  EXPECT_EQ(recs[200].payload, big);
  expect_records(std::vector<Rec>(recs.begin(), recs.begin() + 200), 1, 200, 40);
  expect_records(std::vector<Rec>(recs.begin() + 201, recs.end()), 202, 204, 40);
}

TEST(Wal, TruncateBeforeDeletesOnlyCoveredFiles) {
  testing::TempDir tmp;
  WalOptions o = options_for(wal_dir(tmp));
  o.file_bytes = 512;
  std::unique_ptr<Wal> wal = open_ok(o);
  ASSERT_OK(wal->truncate_before(0));
  ASSERT_OK(wal->truncate_before(100));  // nothing appended: the empty current file stays
  EXPECT_EQ(wal->file_count(), 1u);

  append_n(*wal, 100, 40);  // files start at 1, 9, 17, 25, ...
  ASSERT_EQ(wal->file_count(), 13u);
  ASSERT_OK(wal->truncate_before(26));  // 1-8, 9-16, 17-24 are covered; 25-32 is not
  std::vector<std::string> files = wal_files(wal_dir(tmp));
  ASSERT_EQ(files.size(), 10u);
  EXPECT_EQ(first_seq_of(files[0]), 25u);
  EXPECT_EQ(wal->file_count(), 10u);
  EXPECT_EQ(wal->disk_bytes(), total_size(wal_dir(tmp)));
  expect_records(replay_all(*wal), 25, 100, 40);

  ASSERT_OK(wal->truncate_before(32));  // exactly the end of a file
  EXPECT_EQ(first_seq_of(wal_files(wal_dir(tmp))[0]), 33u);
  ASSERT_OK(wal->truncate_before(20));  // already gone: nothing to do
  EXPECT_EQ(first_seq_of(wal_files(wal_dir(tmp))[0]), 33u);

  // Everything checkpointed: the current file is rotated away, appends go on after it.
  ASSERT_OK(wal->truncate_before(100));
  files = wal_files(wal_dir(tmp));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(first_seq_of(files[0]), 101u);
  EXPECT_EQ(wal->disk_bytes(), kWalFileHeaderBytes);
  EXPECT_TRUE(replay_all(*wal).empty());
  append_n(*wal, 2, 40);
  EXPECT_EQ(wal->last_seq(), 102u);
  wal.reset();

  wal = open_ok(o);
  EXPECT_EQ(wal->last_seq(), 102u);
  expect_records(replay_all(*wal), 101, 102, 40);
  // A reopen of a WAL whose only file is empty keeps the sequence too.
  ASSERT_OK(wal->truncate_before(102));
  wal.reset();
  wal = open_ok(o);
  EXPECT_EQ(wal->last_seq(), 102u);
  append_n(*wal, 1, 40);
  EXPECT_EQ(wal->last_seq(), 103u);
}

// The last record is cut at every byte (inside its header and inside its payload): the record is
// gone after open, everything before it is intact, and appending and reopening work.
TEST(Wal, TornTailAtEveryCutIsRemoved) {
  testing::TempDir tmp;
  constexpr size_t kLen = 40;
  {
    std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
    append_n(*wal, 5, kLen);
  }
  const std::string path = wal_dir(tmp) + "/" + file_name(1);
  const std::vector<uint8_t> full = read_bytes(path);
  ASSERT_EQ(full.size(), kWalFileHeaderBytes + 5 * record_bytes(kLen));
  const size_t last_start = full.size() - record_bytes(kLen);
  for (size_t cut = last_start; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    write_bytes(path, std::span<const uint8_t>(full.data(), cut));
    {
      std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
      ASSERT_NE(wal, nullptr);
      EXPECT_EQ(wal->last_seq(), 4u);
      EXPECT_EQ(file_size(path), last_start);
      expect_records(replay_all(*wal), 1, 4, kLen);
      std::vector<uint8_t> fresh = make_payload(5000, 7);
      ASSERT_EQ(*wal->append(fresh), 5u);
    }
    std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
    std::vector<Rec> recs = replay_all(*wal);
    ASSERT_EQ(recs.size(), 5u);
    expect_records(std::vector<Rec>(recs.begin(), recs.begin() + 4), 1, 4, kLen);
    EXPECT_EQ(recs[4].payload, make_payload(5000, 7));
  }
}

TEST(Wal, FlippedByteInAMiddleRecordIsCorruption) {
  constexpr size_t kLen = 20;
  const uint64_t record5 = kWalFileHeaderBytes + 4 * record_bytes(kLen);
  // A byte of the payload, of the seq, of the stored CRC and of the length.
  for (uint64_t within : {uint64_t{16 + 3}, uint64_t{9}, uint64_t{5}, uint64_t{0}}) {
    SCOPED_TRACE("byte " + std::to_string(within) + " of record 5");
    testing::TempDir tmp;
    {
      std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
      append_n(*wal, 10, kLen);
    }
    flip_byte(wal_dir(tmp) + "/" + file_name(1), record5 + within);
    Result<std::unique_ptr<Wal>> wal = Wal::open(options_for(wal_dir(tmp)));
    ASSERT_FALSE(wal.is_ok());
    EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
    const std::string& msg = wal.status().message();
    EXPECT_NE(msg.find(file_name(1)), std::string::npos) << msg;
    EXPECT_NE(msg.find("at byte " + std::to_string(record5)), std::string::npos) << msg;
  }
}

TEST(Wal, FlippedByteInTheLastRecordIsATornTail) {
  testing::TempDir tmp;
  constexpr size_t kLen = 20;
  {
    std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
    append_n(*wal, 10, kLen);
  }
  const std::string path = wal_dir(tmp) + "/" + file_name(1);
  flip_byte(path, file_size(path) - 3);
  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
  EXPECT_EQ(wal->last_seq(), 9u);
  expect_records(replay_all(*wal), 1, 9, kLen);
  append_n(*wal, 1, kLen);
}

TEST(Wal, GarbageAfterTheLastRecordIsCut) {
  constexpr size_t kLen = 24;
  std::mt19937 rng(5);
  std::vector<uint8_t> random(3000), zeros(4096, 0);
  for (uint8_t& b : random) b = static_cast<uint8_t>(rng());
  for (const std::vector<uint8_t>* garbage : {&random, &zeros}) {
    testing::TempDir tmp;
    {
      std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
      append_n(*wal, 6, kLen);
    }
    const std::string path = wal_dir(tmp) + "/" + file_name(1);
    const uint64_t good = file_size(path);
    append_raw(path, *garbage);
    {
      std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
      EXPECT_EQ(wal->last_seq(), 6u);
      EXPECT_EQ(file_size(path), good);
      append_n(*wal, 1, kLen);
    }
    std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
    expect_records(replay_all(*wal), 1, 7, kLen);
  }
}

// A whole, checksummed record that repeats a seq is not a torn write.
TEST(Wal, AValidRecordWithTheWrongSeqIsCorruption) {
  testing::TempDir tmp;
  constexpr size_t kLen = 24;
  {
    std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
    append_n(*wal, 3, kLen);
  }
  const std::string path = wal_dir(tmp) + "/" + file_name(1);
  std::vector<uint8_t> bytes = read_bytes(path);
  const uint64_t size = bytes.size();
  append_raw(path, std::span<const uint8_t>(bytes.data() + size - record_bytes(kLen), record_bytes(kLen)));
  Result<std::unique_ptr<Wal>> wal = Wal::open(options_for(wal_dir(tmp)));
  ASSERT_FALSE(wal.is_ok());
  EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
  EXPECT_NE(wal.status().message().find("at byte " + std::to_string(size)), std::string::npos)
      << wal.status().message();
}

TEST(Wal, BadFileHeaderIsCorruption) {
  struct Damage {
    const char* name;
    std::function<void(const std::string&)> apply;
  };
  const Damage damages[] = {
      {"magic", [](const std::string& p) { flip_byte(p, 2); }},
      {"version", [](const std::string& p) { flip_byte(p, 8); }},
      {"first seq", [](const std::string& p) { flip_byte(p, 17); }},
      {"crc", [](const std::string& p) { flip_byte(p, 25); }},
      {"short", [](const std::string& p) { std::filesystem::resize_file(p, 10); }},
      {"empty", [](const std::string& p) { std::filesystem::resize_file(p, 0); }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    testing::TempDir tmp;
    {
      std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp)));
      append_n(*wal, 3, 10);
    }
    d.apply(wal_dir(tmp) + "/" + file_name(1));
    Result<std::unique_ptr<Wal>> wal = Wal::open(options_for(wal_dir(tmp)));
    ASSERT_FALSE(wal.is_ok());
    EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
    EXPECT_NE(wal.status().message().find(file_name(1)), std::string::npos) << wal.status().message();
    EXPECT_NE(wal.status().message().find("header"), std::string::npos) << wal.status().message();
  }
}

TEST(Wal, DamageOutsideTheLastFileIsCorruption) {
  constexpr size_t kLen = 40;
  WalOptions o;
  auto make = [&](const testing::TempDir& tmp) {
    o = options_for(wal_dir(tmp));
    o.file_bytes = 512;  // 8 records a file: files start at 1, 9, 17, 25
    std::unique_ptr<Wal> wal = open_ok(o);
    append_n(*wal, 30, kLen);
  };
  {
    SCOPED_TRACE("a missing middle file leaves a gap");
    testing::TempDir tmp;
    make(tmp);
    std::filesystem::remove(wal_dir(tmp) + "/" + file_name(9));
    Result<std::unique_ptr<Wal>> wal = Wal::open(o);
    ASSERT_FALSE(wal.is_ok());
    EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
    EXPECT_NE(wal.status().message().find(file_name(17)), std::string::npos) << wal.status().message();
    EXPECT_NE(wal.status().message().find("gap"), std::string::npos) << wal.status().message();
  }
  {
    SCOPED_TRACE("a missing oldest file is fine: truncation removes files oldest first");
    testing::TempDir tmp;
    make(tmp);
    std::filesystem::remove(wal_dir(tmp) + "/" + file_name(1));
    std::unique_ptr<Wal> wal = open_ok(o);
    expect_records(replay_all(*wal), 9, 30, kLen);
  }
  {
    SCOPED_TRACE("a torn record at the end of a file that is not the last");
    testing::TempDir tmp;
    make(tmp);
    const std::string path = wal_dir(tmp) + "/" + file_name(9);
    const uint64_t size = file_size(path);
    std::filesystem::resize_file(path, size - 5);
    Result<std::unique_ptr<Wal>> wal = Wal::open(o);
    ASSERT_FALSE(wal.is_ok());
    EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
    EXPECT_NE(wal.status().message().find(file_name(9)), std::string::npos) << wal.status().message();
    EXPECT_NE(wal.status().message().find("at byte " + std::to_string(size - record_bytes(kLen))),
              std::string::npos)
        << wal.status().message();
  }
  {
    SCOPED_TRACE("a file whose name disagrees with its header");
    testing::TempDir tmp;
    make(tmp);
    std::filesystem::rename(wal_dir(tmp) + "/" + file_name(25), wal_dir(tmp) + "/" + file_name(26));
    EXPECT_EQ(Wal::open(o).status().code(), StatusCode::kCorruption);
  }
}

TEST(Wal, OversizedRecordIsRejectedAndNothingIsWritten) {
  testing::TempDir tmp;
  WalOptions o = options_for(wal_dir(tmp));
  o.max_record_bytes = 1000;
  std::unique_ptr<Wal> wal = open_ok(o);
  append_n(*wal, 2, 10);
  const uint64_t bytes = wal->disk_bytes();
  std::vector<uint8_t> big = make_payload(1, 1001), ok = make_payload(2, 1000);
  Result<uint64_t> r = wal->append(big);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  std::vector<std::span<const uint8_t>> batch = {ok, big};
  EXPECT_EQ(wal->append_batch(batch).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->last_seq(), 2u);
  EXPECT_EQ(wal->disk_bytes(), bytes);
  EXPECT_EQ(total_size(wal_dir(tmp)), bytes);
  EXPECT_EQ(*wal->append(ok), 3u);
  wal.reset();
  wal = open_ok(o);
  EXPECT_EQ(replay_all(*wal).size(), 3u);
}

TEST(Wal, EveryFsyncPolicyWorks) {
  for (FsyncPolicy policy : {FsyncPolicy::kAlways, FsyncPolicy::kInterval, FsyncPolicy::kNone}) {
    SCOPED_TRACE(std::string(fsync_policy_name(policy)));
    testing::TempDir tmp;
    WalOptions o = options_for(wal_dir(tmp), policy);
    o.interval_ms = 5;
    std::unique_ptr<Wal> wal = open_ok(o);
    for (int i = 0; i < 100; ++i) {
      std::vector<uint8_t> p = make_payload(i + 1, 64);
      Result<uint64_t> seq = wal->append(p);
      ASSERT_TRUE(seq.is_ok());
      ASSERT_OK(wal->sync(*seq));
      if (policy == FsyncPolicy::kAlways) {
        ASSERT_GE(wal->durable_seq(), *seq);
      }
    }
    if (policy == FsyncPolicy::kInterval) {
      // The background thread catches up within a few intervals.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (wal->durable_seq() < 100 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      EXPECT_EQ(wal->durable_seq(), 100u);
    }
    if (policy == FsyncPolicy::kNone) {
      EXPECT_EQ(wal->durable_seq(), 0u);
    }
    ASSERT_OK(wal->sync_all());
    EXPECT_EQ(wal->durable_seq(), 100u);
    wal.reset();
    wal = open_ok(o);
    expect_records(replay_all(*wal), 1, 100, 64);
  }
}

// RLIMIT_FSIZE makes a real write fail part-way: the record is not acknowledged, the partial bytes
// are cut off, and the WAL refuses everything until it is reopened.
TEST(Wal, AFailedWriteFailsTheWalUntilReopened) {
  testing::TempDir tmp;
  std::unique_ptr<Wal> wal = open_ok(options_for(wal_dir(tmp), FsyncPolicy::kAlways));
  append_n(*wal, 3, 10);
  const std::string path = wal_dir(tmp) + "/" + file_name(1);
  const uint64_t good = file_size(path);

  struct sigaction ignore {}, old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit limit = old_limit;
  limit.rlim_cur = good + 20;  // the next record gets 20 of its bytes written
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::vector<uint8_t> p = make_payload(4, 100);
  Result<uint64_t> r = wal->append(p);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &old_action, nullptr);

  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError) << r.status().to_string();
  EXPECT_EQ(file_size(path), good);
  EXPECT_EQ(wal->last_seq(), 3u);
  EXPECT_EQ(wal->append(p).status().code(), StatusCode::kIoError);
  EXPECT_EQ(wal->sync(3).code(), StatusCode::kIoError);
  EXPECT_EQ(wal->sync_all().code(), StatusCode::kIoError);
  EXPECT_EQ(wal->truncate_before(1).code(), StatusCode::kIoError);
  wal.reset();

  wal = open_ok(options_for(wal_dir(tmp), FsyncPolicy::kAlways));
  expect_records(replay_all(*wal), 1, 3, 10);
  append_n(*wal, 1, 10);
}

// Group commit: 8 writers each append and sync 2000 records; every seq is handed out once, and
// after a reopen every payload is where its seq says. A reader replays concurrently meanwhile.
TEST(Wal, ConcurrentAppendsWithGroupCommit) {
  testing::TempDir tmp;
  WalOptions o = options_for(wal_dir(tmp), FsyncPolicy::kAlways);
  o.file_bytes = 256 << 10;  // some rotations happen under load too
  std::unique_ptr<Wal> wal = open_ok(o);
  constexpr int kThreads = 8, kPerThread = 2000;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::atomic<bool> failed{false}, writers_done{false};
  auto payload_for = [](int t, int i) {
    const uint64_t key = (uint64_t(t) << 32) | uint64_t(i);
    return make_payload(key, 1 + mix64(key) % 200);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<uint8_t> p = payload_for(t, i);
        Result<uint64_t> seq = wal->append(p);
        if (!seq.is_ok() || !wal->sync(*seq).is_ok() || wal->durable_seq() < *seq) {
          failed = true;
          return;
        }
        seqs[t].push_back(*seq);
      }
    });
  }
  std::atomic<int> replays{0};
  std::thread reader([&] {
    while (!writers_done.load()) {
      uint64_t expected = 1;
      Status st = wal->replay(0, [&](uint64_t seq, std::span<const uint8_t>) {
        return seq == expected++ ? Status::ok() : Status::internal("out of order");
      });
      if (!st.is_ok()) failed = true;
      ++replays;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  for (std::thread& th : threads) th.join();
  writers_done = true;
  reader.join();
  ASSERT_FALSE(failed.load());
  EXPECT_GT(replays.load(), 0);

  std::map<uint64_t, std::pair<int, int>> owner;  // seq -> (thread, index)
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seqs[t].size(), size_t{kPerThread});
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_TRUE(owner.emplace(seqs[t][i], std::make_pair(t, i)).second) << "seq handed out twice";
      if (i > 0) {
        ASSERT_GT(seqs[t][i], seqs[t][i - 1]);
      }
    }
  }
  const uint64_t total = uint64_t{kThreads} * kPerThread;
  ASSERT_EQ(owner.size(), total);
  EXPECT_EQ(owner.begin()->first, 1u);
  EXPECT_EQ(owner.rbegin()->first, total);
  EXPECT_EQ(wal->durable_seq(), total);
  wal.reset();

  wal = open_ok(o);
  EXPECT_EQ(wal->last_seq(), total);
  uint64_t seen = 0;
  ASSERT_OK(wal->replay(0, [&](uint64_t seq, std::span<const uint8_t> p) {
    const auto [t, i] = owner.at(seq);
    const std::vector<uint8_t> want = payload_for(t, i);
    if (!std::equal(p.begin(), p.end(), want.begin(), want.end())) {
      return Status::internal("payload of seq " + std::to_string(seq) + " differs");
    }
    ++seen;
    return Status::ok();
  }));
  EXPECT_EQ(seen, total);
}

// A child process appends under kAlways and reports each acknowledged (synced) record through a
// pipe; the parent SIGKILLs it at a random moment, reopens the WAL and finds every acknowledged
// record with its exact bytes. Cycles share one directory, so each recovery also continues the
// sequence the previous crash left. Payloads are large enough that a kill can land mid-write.
TEST(Wal, EveryAcknowledgedRecordSurvivesSigkill) {
  testing::TempDir tmp;
  WalOptions o = options_for(wal_dir(tmp), FsyncPolicy::kAlways);
  o.file_bytes = 256 << 10;
  auto payload_for = [](uint64_t seq) { return make_payload(seq, 1 + mix64(seq) % 20000); };
  std::mt19937 rng(20240611);
  std::set<uint64_t> acked;
  for (int cycle = 0; cycle < 5; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      Result<std::unique_ptr<Wal>> w = Wal::open(o);
      if (!w.is_ok()) ::_exit(2);
      for (;;) {
        const uint64_t seq = (*w)->last_seq() + 1;
        const std::vector<uint8_t> p = payload_for(seq);
        Result<uint64_t> got = (*w)->append(p);
        if (!got.is_ok() || *got != seq || !(*w)->sync(seq).is_ok()) ::_exit(3);
        const uint64_t msg[2] = {seq, hash_bytes(p)};
        if (::write(fds[1], msg, sizeof(msg)) != static_cast<ssize_t>(sizeof(msg))) ::_exit(4);
      }
    }
    ::close(fds[1]);
    // The kill lands at a random moment after the child's first acknowledgement.
    uint64_t msg[2];
    ASSERT_EQ(::read(fds[0], msg, sizeof(msg)), static_cast<ssize_t>(sizeof(msg)));
    ASSERT_EQ(msg[1], hash_bytes(payload_for(msg[0])));
    acked.insert(msg[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited early with " << WEXITSTATUS(wstatus);
    ssize_t r;
    uint64_t acked_this_cycle = 1;
    while ((r = ::read(fds[0], msg, sizeof(msg))) == static_cast<ssize_t>(sizeof(msg))) {
      ASSERT_EQ(msg[1], hash_bytes(payload_for(msg[0])));
      acked.insert(msg[0]);
      ++acked_this_cycle;
    }
    ASSERT_EQ(r, 0);
    ::close(fds[0]);
    EXPECT_GT(acked_this_cycle, 0u);

    const uint64_t bytes_before_open = total_size(wal_dir(tmp));
    std::unique_ptr<Wal> wal = open_ok(o);
    ASSERT_NE(wal, nullptr);
    std::cout << "cycle " << cycle << ": " << acked_this_cycle << " records acknowledged, WAL ends at seq "
              << wal->last_seq() << ", torn tail cut: " << bytes_before_open - wal->disk_bytes()
              << " bytes\n";
    const uint64_t max_acked = acked.empty() ? 0 : *acked.rbegin();
    EXPECT_GE(wal->last_seq(), max_acked);
    EXPECT_LE(wal->last_seq(), max_acked + 1);  // at most the record in flight when killed
    uint64_t expected = 1;
    ASSERT_OK(wal->replay(0, [&](uint64_t seq, std::span<const uint8_t> p) {
      if (seq != expected++) return Status::internal("seq " + std::to_string(seq) + " out of order");
      const std::vector<uint8_t> want = payload_for(seq);
      if (!std::equal(p.begin(), p.end(), want.begin(), want.end())) {
        return Status::internal("payload of seq " + std::to_string(seq) + " differs");
      }
      return Status::ok();
    }));
    EXPECT_EQ(expected - 1, wal->last_seq());
    for (uint64_t seq : acked) ASSERT_LE(seq, wal->last_seq());
  }
}

}  // namespace
}  // namespace vecstream

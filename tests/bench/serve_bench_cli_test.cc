// vecstream-bench serve: the gRPC load generators (the lean HTTP/2 one, h2, and gRPC's own C++
// client, grpcpp) drive a real server over loopback, unary and streaming, closed and open loop,
// and every answer they bring back is scored against the exact top-k. Also: the load process
// (`vecstream-bench serve-grpc-load`) refuses a queries file that is not one, and reports a
// server that is not there as errors rather than answers. Figures are not checked here (they
// belong to the benchmark itself); correctness and errors are.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "app/serve_process.h"
#include "support/temp_dir.h"
#include "vecstream/v1/vecstream.pb.h"

namespace vecstream {
namespace {

const std::string kBench = VECSTREAM_BENCH_BIN;

// A loopback port nothing listens on (bound, then released).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The lines of `text` that match `re` in full: each as its groups (0 = the whole line).
std::vector<std::vector<std::string>> matching_lines(const std::string& text, const std::regex& re) {
  std::vector<std::vector<std::string>> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, re)) out.emplace_back(m.begin(), m.end());
  }
  return out;
}

class ServeBenchCliTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ServeBenchCliTest, EveryGrpcRowIsAnsweredExactlyAndWithoutErrors) {
  if (kBench.empty()) GTEST_SKIP() << "benchmarks not built in this configuration";
  testing::TempDir scratch;
  const std::string client = GetParam();
  const auto r = testing::run_command(
      scratch, kBench + " serve --dataset synthetic --synthetic-n 2000 --dim 32 --max-queries 200"
                        " --transports grpc,grpc-stream --configs plain --clients 2 --seconds 0.5"
                        " --peers none --rest-rate 0 --ingest-rate 50 --case-qps 300 --case-seconds 1"
                        " --case-inserts 20 --cache-dir '' --grpc-client " + client);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // The closed-loop table: both transports, idle and while ingesting.
  const std::regex row(R"(^plain +(grpc|grpc-stream) +(idle|ingesting) +2 +([0-9]+) .* ([01]\.[0-9]{4}) +[0-9]+% +[0-9]+ *$)");
  const auto rows = matching_lines(r.out, row);
  EXPECT_EQ(rows.size(), 4u) << r.out;
  for (const auto& m : rows) {
    EXPECT_GT(std::stoi(m[3]), 0) << m[0];
    EXPECT_GE(std::stod(m[4]), 0.99) << m[0];  // HNSW at ef 64 over 2,000 points: exact
  }
  EXPECT_EQ(r.out.find("errors:"), std::string::npos) << r.out;
  // The open loop (the case study's shape) over both transports.
  const std::regex open(R"(case study: (grpc|grpc-stream) open loop .* recall@10 ([01]\.[0-9]{4}), 0 errors .*)");
  const auto opens = matching_lines(r.out, open);
  EXPECT_EQ(opens.size(), 2u) << r.out;
  for (const auto& m : opens) EXPECT_GE(std::stod(m[2]), 0.99) << m[0];
}

TEST_P(ServeBenchCliTest, LoadProcessRefusesAQueriesFileThatIsNotOne) {
  if (kBench.empty()) GTEST_SKIP() << "benchmarks not built in this configuration";
  testing::TempDir scratch;
  const std::string queries = scratch / "queries", answers = scratch / "answers";
  for (const std::string& bytes : {std::string(), std::string("\xff\xfe garbage \x01", 12)}) {
    testing::write_text_file(queries, bytes);
    const auto r = testing::run_command(
        scratch, kBench + " serve-grpc-load --client " + GetParam() + " --port 1 --slots 1 --seconds 0.1" +
                     " --rate 0 --queries " + queries + " --answers " + answers);
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("cannot read queries"), std::string::npos) << r.err;
    EXPECT_FALSE(std::ifstream(answers).good());
  }
}

TEST_P(ServeBenchCliTest, LoadProcessCountsAnAbsentServerAsErrors) {
  if (kBench.empty()) GTEST_SKIP() << "benchmarks not built in this configuration";
  testing::TempDir scratch;
  const std::string queries = scratch / "queries", answers = scratch / "answers";
  ::vecstream::v1::SearchBatchRequest batch;
  for (int i = 0; i < 4; ++i) {
    auto* q = batch.add_queries();
    q->set_collection("c");
    q->set_k(3);
    for (int j = 0; j < 8; ++j) q->add_vector(static_cast<float>(i + j));
  }
  {
    std::ofstream out(queries, std::ios::binary);
    ASSERT_TRUE(batch.SerializeToOstream(&out));
  }
  for (const char* stream : {"", " --stream"}) {
    SCOPED_TRACE(*stream ? "SearchStream" : "unary Search");
    const auto r = testing::run_command(
        scratch, kBench + " serve-grpc-load --client " + GetParam() + " --port " +
                     std::to_string(closed_port()) + " --slots 2 --seconds 0.3 --rate 0 --queries " +
                     queries + " --answers " + answers + stream);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const std::regex summary(R"(serve-grpc-load \((h2|grpcpp)\): 0 answers, ([0-9]+) errors; first: .+\n)");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, summary)) << r.out;
    EXPECT_GE(std::stoi(m[2]), 1) << r.out;
    EXPECT_TRUE(std::ifstream(answers).good());
  }
}

INSTANTIATE_TEST_SUITE_P(Generators, ServeBenchCliTest, ::testing::Values("h2", "grpcpp"));

}  // namespace
}  // namespace vecstream

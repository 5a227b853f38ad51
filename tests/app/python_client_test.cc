// The Python clients (clients/python: REST and gRPC) against a real `vecstream serve`: starts the
// server on free loopback ports with API keys and small limits, runs
// `python3 -m unittest discover` in clients/python with the server's addresses in the
// environment (clients/python/tests/support.py), and requires every test to pass, none skipped.
//
// The interpreter is $VECSTREAM_PYTHON, else Debian's /usr/bin/python3 (whose dist-packages hold
// python3-grpcio and python3-protobuf), else python3 on the PATH. The gRPC stubs are generated
// into a temporary folder from proto/ (clients/python/vecstream/stubs.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "app/serve_process.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

using testing::shell_quote;

constexpr const char* kAdminKey = "py-admin-key-0123456789";
constexpr const char* kReadKey = "py-reader-key-0123456789";
constexpr int kMaxUpsert = 50;
constexpr int kMaxBatch = 4;

std::string python() {
  if (const char* p = std::getenv("VECSTREAM_PYTHON"); p && *p) return p;
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

TEST(PythonClientTest, UnittestSuiteAgainstRealServer) {
  testing::TempDir dir;
  const std::string config = dir / "serve.toml";
  testing::write_text_file(config, std::string(R"(
[query]
max_upsert_points = )") + std::to_string(kMaxUpsert) +
                                       R"(
max_batch_queries = )" + std::to_string(kMaxBatch) +
                                       R"(

[[api_keys]]
name = "admin"
key = ")" + kAdminKey + R"("
role = "admin"

[[api_keys]]
name = "reader"
key = ")" + kReadKey + R"("
role = "read"
)");
  testing::ServeProcess server(VECSTREAM_BIN, {"--config", config});
  ASSERT_TRUE(server.started()) << server.log();

  const std::string src = VECSTREAM_SOURCE_DIR;
  const std::string client_dir = src + "/clients/python";
  const std::string env =
      "env -u VECSTREAM_API_KEY PYTHONPATH=" + shell_quote(client_dir) +
      " PYTHONDONTWRITEBYTECODE=1"
      " VECSTREAM_PROTO_DIR=" +
      shell_quote(src + "/proto") + " VECSTREAM_STUBS_DIR=" + shell_quote(dir / "stubs") +
      " VECSTREAM_TEST_REST_URL=" + server.url() +
      " VECSTREAM_TEST_GRPC_ADDRESS=" + server.grpc_address() +
      " VECSTREAM_TEST_ADMIN_KEY=" + kAdminKey + " VECSTREAM_TEST_READ_KEY=" + kReadKey +
      " VECSTREAM_TEST_MAX_UPSERT=" + std::to_string(kMaxUpsert) +
      " VECSTREAM_TEST_MAX_BATCH=" + std::to_string(kMaxBatch);
  const std::string cmd = "cd " + shell_quote(client_dir) + " && " + env + " timeout 300 " +
                          shell_quote(python()) + " -m unittest discover -v -s tests -t .";
  testing::CommandResult r = testing::run_command(dir, cmd);
  // unittest reports on stderr: one line per test, then "Ran N tests" and "OK" / "FAILED (...)".
  const std::string report = r.out + r.err;
  std::printf("%s\n", report.c_str());  // the per-test lines, in ctest's log
  EXPECT_EQ(r.exit_code, 0) << report << "\n--- server log ---\n" << server.log();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(report, m, std::regex(R"(Ran (\d+) tests?)"))) << report;
  EXPECT_GE(std::stoi(m[1]), 20)
      << report;  // both clients' contract tests ran, not only the offline ones
  EXPECT_EQ(report.find("skipped"), std::string::npos) << report;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

}  // namespace
}  // namespace vecstream

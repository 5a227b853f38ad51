// The Prometheus alert rules shipped in deploy/ are valid: `promtool check rules` accepts them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace {

TEST(DeployRulesTest, PromtoolAcceptsTheAlertRules) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_FAIL() << "promtool not installed (Debian package prometheus, scripts/install-deps.sh)";
  }
  const std::string cmd = std::string("promtool check rules ") + VECSTREAM_SOURCE_DIR +
                          "/deploy/prometheus/vecstream-alerts.yml > /tmp/vecstream-promtool.out 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << "promtool check rules failed; see /tmp/vecstream-promtool.out";
}

}  // namespace

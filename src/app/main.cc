// vecstream: the command. Sub-commands grow with the layers; today:
//   vecstream bench ann ...   the ANN benchmark (runs the sibling `vecstream-bench` program, which
//                             holds the peer libraries so this binary never links them)
//   vecstream info            CPU SIMD level, build facts
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/distance.h"

namespace {

#ifdef VECSTREAM_HAVE_BENCH
std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}
#endif

int run_bench(const std::vector<std::string>& args) {
#ifdef VECSTREAM_HAVE_BENCH
  std::string exe = self_dir() + "/vecstream-bench";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(exe.c_str(), argv.data());
  std::fprintf(stderr, "vecstream: cannot run %s (%s)\n", exe.c_str(), std::strerror(errno));
  return 127;
#else
  (void)args;
  std::fprintf(stderr, "vecstream: this build has no benchmarks (configure with VECSTREAM_BUILD_BENCH=ON)\n");
  return 2;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Vecstream: real-time vector search engine"};
  app.require_subcommand(1);

  auto* bench = app.add_subcommand("bench", "Benchmarks against hnswlib and FAISS (try: bench ann --help)");
  bench->prefix_command();  // everything after `bench` goes to vecstream-bench as is

  auto* info = app.add_subcommand("info", "Show the CPU's SIMD level and build facts");

  CLI11_PARSE(app, argc, argv);

  if (bench->parsed()) {
    std::vector<std::string> rest = bench->remaining();
    if (rest.empty()) rest.push_back("--help");
    return run_bench(rest);
  }
  if (info->parsed()) {
    std::printf("vecstream 0.1.0\nsimd: %s\n",
                vecstream::simd_level_name(vecstream::detected_simd_level()));
    return 0;
  }
  return 0;
}

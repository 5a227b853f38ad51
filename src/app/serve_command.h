// `vecstream serve`: the server. Loads the configuration (serve/server_config.h), opens the
// catalog (recovering every collection), starts REST and gRPC with the Service, the result cache
// and /metrics, and runs until SIGTERM or SIGINT; then it stops accepting, drains the calls in
// flight (shutdown_grace_ms), checkpoints every collection and exits 0.
#pragma once

#include <string>
#include <vector>

namespace vecstream {

struct ServeArgs {
  std::string config_file;
  std::vector<std::string> overrides;  // "section.key=value", from named flags and --set
  bool print_config = false;
};

/// Blocks SIGTERM/SIGINT in the calling thread; call it before any thread is started, so that
/// every thread inherits the mask and the server's own wait receives the signal.
void block_shutdown_signals();
int run_serve(const ServeArgs& args);

}  // namespace vecstream

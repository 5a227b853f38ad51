// The serving benchmark's command on the vecstream-bench command line (see serve_bench.cc):
//
//   vecstream-bench serve [options]   closed- and open-loop search load over real sockets (gRPC,
//                                     REST) beside the same queries in-process and hnswlib
#pragma once

namespace CLI {
class App;
}

namespace vecstream::bench {

/// Adds the `serve` subcommand to `app`. Like add_stream_commands (stream_bench.h) it runs from
/// its CLI11 callback and ends the parse with CLI::RuntimeError(exit code).
void add_serve_commands(CLI::App& app);

}  // namespace vecstream::bench

// The streaming benchmark's commands on the vecstream-bench command line (see stream_bench.cc):
//
//   vecstream-bench stream [options]          play a runbook against a Collection and peers
//   vecstream-bench stream-runbook [options]  write a sliding-window runbook, or --check one
#pragma once

namespace CLI {
class App;
}

namespace vecstream::bench {

/// Adds the `stream` and `stream-runbook` subcommands to `app`. Each runs from its CLI11 callback
/// and ends the parse by throwing CLI::RuntimeError(exit code), which CLI11_PARSE turns into the
/// program's exit status (0 included), so main() needs nothing beyond this call.
void add_stream_commands(CLI::App& app);

}  // namespace vecstream::bench

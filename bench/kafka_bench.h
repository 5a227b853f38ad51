// The Kafka ingestion benchmark's command on the vecstream-bench command line (kafka_bench.cc):
//
//   vecstream-bench kafka [options]   events through a Kafka-protocol broker into a collection:
//                                     sustained events/s into searchable state, freshness, lag
#pragma once

namespace CLI {
class App;
}

namespace vecstream::bench {

/// Adds the `kafka` subcommand to `app`; like the others it runs from its CLI11 callback and ends
/// the parse with CLI::RuntimeError(exit code).
void add_kafka_commands(CLI::App& app);

}  // namespace vecstream::bench

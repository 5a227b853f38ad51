// `vecstream kafka-dev`: a Kafka-protocol development broker (ingest/dev_broker.h, librdkafka's
// mock cluster) as its own process, for scripts, tests and trying ingestion out without a Kafka
// installation:
//
//   vecstream kafka-dev --brokers 1 --topic events:4 --topic events.dlq:1
//   127.0.0.1:39521                      <- the bootstrap address: the only line on stdout
//
// Brokers listen on 127.0.0.1 only, ports chosen by the OS. The process runs until SIGTERM or
// SIGINT, then shuts the cluster down and exits 0. Everything is in memory.
#pragma once

#include <string>
#include <vector>

namespace vecstream {

struct KafkaDevArgs {
  int brokers = 1;
  std::vector<std::string> topics;  // "NAME:PARTITIONS"
};

/// Runs the broker until SIGTERM/SIGINT (which the caller may already block, as main() does).
/// Returns the exit code: 0 after a clean stop, 2 for bad arguments, 1 if the broker fails.
int run_kafka_dev(const KafkaDevArgs& args);

}  // namespace vecstream

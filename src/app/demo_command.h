// `vecstream demo`: the whole stream working on one machine, from one command.
//
// It starts, each as its own process, a Kafka-protocol broker (`vecstream kafka-dev`, topics
// "articles" and "images" with 2 partitions each, and their dead-letter topics) and the server
// (`vecstream serve` with kafka.topics = articles,images on a fresh data directory); creates the
// two collections over REST; then runs, in this process,
//   - a producer streaming two real corpora into Kafka, paced: WordNet noun glosses as text
//     "articles" (embedded by the server's built-in hashing embedder on the way in) and
//     Fashion-MNIST training images as 784-d vectors with their class as payload, plus a sliding
//     share of deletes;
//   - a query load over REST: Fashion-MNIST test images against "images", and a sample of them
//     also exactly, for recall@10 against exact search over the live data;
// and prints, every few seconds, what a user watches: events/s applied, consumer lag, freshness
// p99 (event time -> searchable, from the server's /metrics), query QPS with p50/p99, sampled
// recall, and points stored. At the end it answers a few text queries ("related articles") and
// prints a summary. Ctrl-C (or --duration) stops everything cleanly: producer and queries stop,
// the server checkpoints on SIGTERM, the broker goes.
#pragma once

#include <cstddef>
#include <string>

namespace vecstream {

struct DemoArgs {
  double duration_s = 60;       // 0 = until Ctrl-C
  double images_per_s = 1000;   // Fashion-MNIST vectors produced per second
  double articles_per_s = 300;  // WordNet glosses produced per second
  double delete_share = 0.1;    // one delete of an earlier image per this many image upserts
  size_t query_threads = 1;     // closed-loop REST query clients
  double interval_s = 2;        // progress line period
  std::string data_dir;         // empty = a fresh temporary directory, removed at the end
  std::string fashion_dir;      // Fashion-MNIST files (default: Debian's dataset-fashion-mnist)
  std::string wordnet_file;     // WordNet data.noun (default: Debian's wordnet-base)
};

/// Runs the demo; the exit status (0 when the stream was searchable end to end and every part
/// stopped cleanly).
int run_demo(const DemoArgs& args);

}  // namespace vecstream

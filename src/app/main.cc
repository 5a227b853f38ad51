// vecstream: the command. Sub-commands:
//   vecstream demo            the whole stream on one machine (app/demo_command.h)
//   vecstream serve           the server (app/serve_command.h), with Kafka ingestion if configured
//   vecstream query|upsert|collections   clients of a running server
//   vecstream kafka-dev       a Kafka-protocol development broker
//   vecstream embed-server    the EmbeddingService over gRPC
//   vecstream snapshot create|restore
//   vecstream bench ann|stream|serve|kafka ...   benchmarks (run the sibling `vecstream-bench`
//                             program, which holds the peer libraries so this binary never links them)
//   vecstream info            CPU SIMD level, build facts
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/distance.h"
#include "app/client_command.h"
#include "app/demo_command.h"
#include "app/kafka_dev_command.h"
#include "app/embed_server_command.h"
#include "app/serve_command.h"
#include "segment/collection.h"
#include "serve/server_config.h"

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

int snapshot_create(const std::string& collection, const std::string& out) {
  auto c = vecstream::Collection::open(collection, /*background=*/false);
  if (!c.is_ok()) {
    std::fprintf(stderr, "vecstream: %s\n", c.status().to_string().c_str());
    return 1;
  }
  vecstream::Status st = (*c)->snapshot(out);
  if (!st.is_ok()) {
    std::fprintf(stderr, "vecstream: %s\n", st.to_string().c_str());
    return 1;
  }
  const auto stats = (*c)->stats();
  std::printf("snapshot of %s (%zu live points, %zu shards) written to %s\n",
              (*c)->config().name.c_str(), stats.live, stats.shards.size(), out.c_str());
  return (*c)->close().is_ok() ? 0 : 1;
}

int snapshot_restore(const std::string& from, const std::string& collection) {
  vecstream::Status st = vecstream::Collection::restore(from, collection);
  if (!st.is_ok()) {
    std::fprintf(stderr, "vecstream: %s\n", st.to_string().c_str());
    return 1;
  }
  auto c = vecstream::Collection::open(collection, /*background=*/false);
  if (!c.is_ok()) {
    std::fprintf(stderr, "vecstream: restored files do not open: %s\n", c.status().to_string().c_str());
    return 1;
  }
  std::printf("restored %s into %s: %zu live points\n", (*c)->config().name.c_str(),
              collection.c_str(), (*c)->stats().live);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  vecstream::block_shutdown_signals();  // before any thread exists: they all inherit the mask
  CLI::App app{"Vecstream: real-time vector search engine"};
  app.require_subcommand(1);

  auto* bench = app.add_subcommand("bench", "Benchmarks against hnswlib and FAISS (try: bench ann --help)");
  bench->prefix_command();  // everything after `bench` goes to vecstream-bench as is

  auto* info = app.add_subcommand("info", "Show the CPU's SIMD level and build facts");

  auto* serve = app.add_subcommand("serve", "Run the server (REST + gRPC) on a data directory");
  vecstream::ServeArgs serve_args;
  std::string data_dir, http_port, grpc_address;
  serve->add_option("--config", serve_args.config_file, "TOML configuration file");
  serve->add_option("--data-dir", data_dir, "Directory of the collections (data_dir)");
  serve->add_option("--http-port", http_port, "REST port (http.port)");
  serve->add_option("--grpc-address", grpc_address, "gRPC host:port (grpc.address)");
  serve->add_option("--set", serve_args.overrides, "Any key: section.key=value (repeatable)");
  serve->add_flag("--print-config", serve_args.print_config, "Print the effective configuration and exit");
  serve->footer(vecstream::ServerConfig::describe_keys());

  // query, upsert, collections: clients of a running server (app/client_command.h).
  vecstream::ClientCommands client(app);

  auto* kafka_dev = app.add_subcommand(
      "kafka-dev", "Run a Kafka-protocol development broker on 127.0.0.1 until SIGTERM/SIGINT; "
                   "prints the bootstrap address");
  vecstream::KafkaDevArgs kafka_dev_args;
  kafka_dev->add_option("--brokers", kafka_dev_args.brokers, "Number of brokers")
      ->check(CLI::Range(1, 16));
  kafka_dev->add_option("--topic", kafka_dev_args.topics, "Topic to create, NAME:PARTITIONS (repeatable)");

  auto* embed_server = app.add_subcommand("embed-server", "Serve EmbeddingService (gRPC) with a built-in embedder");
  vecstream::EmbedServerArgs embed_args;
  embed_server->add_option("--listen", embed_args.listen, "host:port (port 0 = any free port)")->capture_default_str();
  embed_server->add_option("--embedder", embed_args.embedder, "hashing | fasttext")->capture_default_str();
  embed_server->add_option("--model", embed_args.model, "fastText model file (.bin/.ftz)");
  embed_server->add_option("--dim", embed_args.dim, "hashing: dimension (256); fasttext: checked against the model");
  embed_server->add_option("--seed", embed_args.seed, "hashing: projection seed");
  embed_server->add_flag("--lowercase", embed_args.lowercase, "fasttext: lower-case ASCII before lookup");
  embed_server->add_option("--threads", embed_args.threads, "embedding workers (0 = all cores)");
  embed_server->add_option("--max-documents", embed_args.max_documents, "documents per request")->capture_default_str();
  embed_server->add_option("--max-request-bytes", embed_args.max_request_bytes, "document bytes per request")->capture_default_str();
  embed_server->add_option("--grace-ms", embed_args.grace_ms, "at SIGTERM, time for requests in flight")->capture_default_str();

  auto* demo = app.add_subcommand(
      "demo", "The whole stream on this machine: a Kafka-protocol broker, the server, producers of real "
              "corpora (WordNet glosses as text, Fashion-MNIST vectors), a query load, live figures; Ctrl-C stops");
  vecstream::DemoArgs demo_args;
  demo->add_option("--duration", demo_args.duration_s, "Seconds to run (0 = until Ctrl-C)")->capture_default_str();
  demo->add_option("--images-per-s", demo_args.images_per_s, "Fashion-MNIST vectors produced per second")->capture_default_str();
  demo->add_option("--articles-per-s", demo_args.articles_per_s, "WordNet glosses (text) produced per second")->capture_default_str();
  demo->add_option("--delete-share", demo_args.delete_share, "Deletes of earlier images per image upsert")->capture_default_str();
  demo->add_option("--query-threads", demo_args.query_threads, "Closed-loop REST query clients")->capture_default_str();
  demo->add_option("--interval", demo_args.interval_s, "Seconds between progress lines")->capture_default_str();
  demo->add_option("--data-dir", demo_args.data_dir, "Keep the data and logs here (default: a temporary directory, removed)");
  demo->add_option("--fashion-dir", demo_args.fashion_dir, "Fashion-MNIST idx files (default: Debian's dataset-fashion-mnist)");
  demo->add_option("--wordnet", demo_args.wordnet_file, "WordNet data.noun (default: Debian's wordnet-base)");

  auto* snapshot = app.add_subcommand("snapshot", "Back up or restore a collection");
  snapshot->require_subcommand(1);
  std::string snap_collection, snap_dir;
  auto* snap_create = snapshot->add_subcommand(
      "create", "Checkpoint every shard and copy the checkpoint into a new snapshot directory");
  snap_create->add_option("--collection", snap_collection, "Collection directory")->required();
  snap_create->add_option("--out", snap_dir, "Snapshot directory to create")->required();
  auto* snap_restore = snapshot->add_subcommand(
      "restore", "Verify a snapshot and restore it into a new collection directory");
  snap_restore->add_option("--from", snap_dir, "Snapshot directory")->required();
  snap_restore->add_option("--collection", snap_collection, "Collection directory to create")->required();

  CLI11_PARSE(app, argc, argv);

  if (bench->parsed()) {
    std::vector<std::string> rest = bench->remaining();
    if (rest.empty()) rest.push_back("--help");
    return run_bench(rest);
  }
  if (serve->parsed()) {
    if (!data_dir.empty()) serve_args.overrides.push_back("data_dir=" + data_dir);
    if (!http_port.empty()) serve_args.overrides.push_back("http.port=" + http_port);
    if (!grpc_address.empty()) serve_args.overrides.push_back("grpc.address=" + grpc_address);
    return vecstream::run_serve(serve_args);
  }
  if (client.parsed()) return client.run();
  if (kafka_dev->parsed()) return vecstream::run_kafka_dev(kafka_dev_args);
  if (embed_server->parsed()) return vecstream::run_embed_server(embed_args);
  if (demo->parsed()) return vecstream::run_demo(demo_args);
  if (snap_create->parsed()) return snapshot_create(snap_collection, snap_dir);
  if (snap_restore->parsed()) return snapshot_restore(snap_dir, snap_collection);
  if (info->parsed()) {
    std::printf("vecstream 0.1.0\nsimd: %s\n",
                vecstream::simd_level_name(vecstream::detected_simd_level()));
    return 0;
  }
  return 0;
}

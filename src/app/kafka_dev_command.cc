#include "app/kafka_dev_command.h"

#include <signal.h>

#include <atomic>
#include <cstdio>

#include "ingest/dev_broker.h"
#include "obs/log.h"

namespace vecstream {

namespace {

std::atomic<int> g_stop_signal{0};  // lock-free: safe to store from a signal handler
static_assert(std::atomic<int>::is_always_lock_free);

}  // namespace

int run_kafka_dev(const KafkaDevArgs& args) {
  DevBrokerOptions opts;
  opts.brokers = args.brokers;
  for (const std::string& spec : args.topics) {
    auto t = DevBroker::parse_topic(spec);
    if (!t.is_ok()) {
      std::fprintf(stderr, "vecstream kafka-dev: --topic %s\n", t.status().message().c_str());
      return 2;
    }
    opts.topics.push_back(*t);
  }
  // Block the stop signals before the cluster's threads start, so they inherit the mask and the
  // wait below receives the signal. Threads started before main() (OpenBLAS starts its pool when
  // the library loads) do not block them, so a handler catches a signal delivered to one of those.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  struct sigaction sa {};
  sa.sa_handler = [](int sig) { g_stop_signal = sig; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  auto broker = DevBroker::start(opts);
  if (!broker.is_ok()) {
    const bool bad_args = broker.status().code() == StatusCode::kInvalidArgument;
    std::fprintf(stderr, "vecstream kafka-dev: %s\n", broker.status().message().c_str());
    return bad_args ? 2 : 1;
  }
  std::printf("%s\n", (*broker)->bootstrap().c_str());
  std::fflush(stdout);
  for (const DevTopic& t : opts.topics) {
    obs::log_info("kafka-dev topic", {{"topic", t.name}, {"partitions", t.partitions}});
  }
  obs::log_info("kafka-dev running", {{"bootstrap", (*broker)->bootstrap()}, {"brokers", args.brokers}});

  int sig = 0;
  const timespec tick{0, 100 * 1000 * 1000};
  while (sig == 0) {
    const int got = sigtimedwait(&stop_signals, nullptr, &tick);
    sig = got > 0 ? got : g_stop_signal.load();
  }
  obs::log_info("kafka-dev stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  broker->reset();
  return 0;
}

}  // namespace vecstream

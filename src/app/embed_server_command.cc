#include "app/embed_server_command.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "embed/embed_server.h"
#include "embed/embedder_factory.h"
#include "obs/log.h"

namespace vecstream {

namespace {

int fail(const std::string& what, const Status& st) {
  obs::log_error(what, {{"error", st.to_string()}});
  std::fprintf(stderr, "vecstream embed-server: %s: %s\n", what.c_str(), st.to_string().c_str());
  return 1;
}

Result<std::shared_ptr<Embedder>> embedder_for(const EmbedServerArgs& args) {
  if (args.embedder != "hashing" && args.embedder != "fasttext") {
    return Status::invalid_argument("unknown --embedder '" + args.embedder + "' (hashing or fasttext)");
  }
  // The flags' names in the errors a command-line user can act on.
  if (args.embedder == "fasttext" && args.model.empty()) {
    return Status::invalid_argument("--embedder fasttext needs --model PATH");
  }
  if (args.embedder == "hashing" && !args.model.empty()) {
    return Status::invalid_argument("--model is for --embedder fasttext");
  }
  EmbedderSpec spec;
  spec.kind = args.embedder;
  spec.dim = args.dim;
  spec.seed = args.seed;
  spec.model = args.model;
  spec.lowercase = args.lowercase;
  auto e = make_embedder(spec);
  if (!e.is_ok()) return e.status();
  return std::shared_ptr<Embedder>(std::move(*e));
}

}  // namespace

int run_embed_server(const EmbedServerArgs& args) {
  const auto t0 = std::chrono::steady_clock::now();
  auto embedder = embedder_for(args);
  if (!embedder.is_ok()) return fail("cannot create the embedder", embedder.status());
  const std::shared_ptr<Embedder> e = *embedder;
  obs::log_info("embedder ready",
                {{"embedder", e->name()},
                 {"dim", static_cast<uint64_t>(e->dimension())},
                 {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});

  EmbedServer::Options o;
  o.address = args.listen;
  o.threads = args.threads;
  o.max_documents_per_request = args.max_documents;
  o.max_request_bytes = args.max_request_bytes;
  auto server = EmbedServer::start(e, o);
  if (!server.is_ok()) return fail("cannot start the server", server.status());
  obs::log_info("embed-server listening", {{"address", args.listen},
                                           {"port", static_cast<int64_t>((*server)->port())}});
  // The address line is what scripts (and tests) read to find the port.
  const std::string host = args.listen.substr(0, args.listen.rfind(':'));
  std::printf("vecstream embed-server: %s (%zu-d) listening on %s:%d; SIGTERM to stop\n",
              e->name().c_str(), e->dimension(), host.c_str(), (*server)->port());
  std::fflush(stdout);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);

  obs::log_info("shutting down", {{"signal", static_cast<int64_t>(sig)}});
  (*server)->stop(std::chrono::milliseconds(args.grace_ms));
  const auto stats = (*server)->stats();
  obs::log_info("stopped cleanly", {{"requests", stats.requests}, {"documents", stats.documents}});
  return 0;
}

}  // namespace vecstream

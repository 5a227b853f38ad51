// The client sub-commands of `vecstream`: they talk to a running `vecstream serve` over its REST
// API (app/rest_client.h) instead of opening collections themselves.
//
//   vecstream query COLLECTION [VECTOR] [--file F|-] [-k N] [--filter JSON] [--ef N] ...
//   vecstream upsert COLLECTION [--file F|-] [--batch-size N]
//   vecstream collections list | create NAME --dim D ... | describe NAME | drop NAME
//
// Every one takes --url (default: the REST address `vecstream serve` listens on by default, from
// serve/server_config.h; or VECSTREAM_URL), --api-key (or VECSTREAM_API_KEY), --ca-cert (https)
// and --timeout. docs/clients.md is the user's guide.
//
// Exit status: 0 success; 1 the server refused the request (its error code and message are
// printed); 2 bad input found before anything was sent (the line number says where); 3 no answer
// from the server (connection refused, timeout, TLS failure).
//
// Usage from main(): construct ClientCommands on the CLI::App before parsing; after parsing, when
// parsed() is true, run() does the work and gives the exit status. No exception leaves run().
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace vecstream {

class ClientCommands {
 public:
  /// Registers `query`, `upsert` and `collections` on `app`; this object holds the options'
  /// storage, so it must live until run() has returned.
  explicit ClientCommands(CLI::App& app);
  ~ClientCommands();
  ClientCommands(const ClientCommands&) = delete;
  ClientCommands& operator=(const ClientCommands&) = delete;

  /// Whether one of the client sub-commands was chosen on the command line.
  bool parsed() const;
  /// Runs the chosen sub-command; returns the process exit status.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecstream

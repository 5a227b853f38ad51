// grpc_runtime: process-wide settings of the gRPC runtime, applied once by every gRPC server and
// channel this code base makes.
//
// Debian builds abseil without NDEBUG, so abseil's lock-order (deadlock) detector is on by
// default: every absl::Mutex that gRPC locks (several per call, on both ends) records a stack
// trace and updates one global lock-order graph under one global lock. On a loaded server that
// was about 3% of all CPU, spent on the same cores as the searches (BENCHMARKS.md, serve). gRPC's
// own release builds (NDEBUG) never run it, so turning it off changes no behaviour of gRPC.
#pragma once

namespace vecstream {

/// Applies the settings above. Idempotent and thread-safe; call before creating a server or a
/// channel (a call later still takes effect for every lock taken afterwards).
void prepare_grpc_runtime();

}  // namespace vecstream

// Status <-> grpc::Status for the embedding service, both directions in one place: the server
// answers with to_grpc, the client reads answers with from_grpc. The codes agree with the serve
// layer's table (serve/status_map.h), which this layer cannot include (it sits below serve).
//
//   Status                         gRPC                  gRPC               Status
//   INVALID_ARGUMENT            -> INVALID_ARGUMENT      INVALID_ARGUMENT -> INVALID_ARGUMENT
//   RESOURCE_EXHAUSTED          -> RESOURCE_EXHAUSTED    RESOURCE_EXHAUSTED -> RESOURCE_EXHAUSTED
//   OUT_OF_RANGE, NOT_FOUND,    -> the same name         UNAVAILABLE, DEADLINE_EXCEEDED,
//   FAILED_PRECONDITION, ...                             CANCELLED, ABORTED -> IO_ERROR
//   CORRUPTION, IO_ERROR,       -> INTERNAL              UNIMPLEMENTED    -> UNIMPLEMENTED
//   INTERNAL                                             others           -> INTERNAL
// Core's Status has no "unavailable" or "deadline" code: transport failures become IO_ERROR and
// their message keeps the gRPC code name ("UNAVAILABLE: ...").
#pragma once

#include <string_view>

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace vecstream {

grpc::Status to_grpc(const Status& s);

/// `context` prefixes the message, e.g. "embedding server 127.0.0.1:50052".
Status from_grpc(const grpc::Status& s, std::string_view context);

/// True for the failures worth retrying: the server could not be reached or did not answer in
/// time. Everything else is an answer and is final.
bool is_retryable(grpc::StatusCode code);

/// "UNAVAILABLE", "DEADLINE_EXCEEDED", ...
std::string_view grpc_code_name(grpc::StatusCode code);

}  // namespace vecstream

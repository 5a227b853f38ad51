#include "embed/grpc_status.h"

#include <string>

namespace vecstream {

grpc::Status to_grpc(const Status& s) {
  using G = grpc::StatusCode;
  G code = G::INTERNAL;
  switch (s.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: code = G::INVALID_ARGUMENT; break;
    case StatusCode::kNotFound: code = G::NOT_FOUND; break;
    case StatusCode::kAlreadyExists: code = G::ALREADY_EXISTS; break;
    case StatusCode::kOutOfRange: code = G::OUT_OF_RANGE; break;
    case StatusCode::kResourceExhausted: code = G::RESOURCE_EXHAUSTED; break;
    case StatusCode::kFailedPrecondition: code = G::FAILED_PRECONDITION; break;
    case StatusCode::kUnimplemented: code = G::UNIMPLEMENTED; break;
    case StatusCode::kUnauthenticated: code = G::UNAUTHENTICATED; break;
    case StatusCode::kPermissionDenied: code = G::PERMISSION_DENIED; break;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
    case StatusCode::kInternal: code = G::INTERNAL; break;
  }
  return grpc::Status(code, s.message());
}

std::string_view grpc_code_name(grpc::StatusCode code) {
  using G = grpc::StatusCode;
  switch (code) {
    case G::OK: return "OK";
    case G::CANCELLED: return "CANCELLED";
    case G::UNKNOWN: return "UNKNOWN";
    case G::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case G::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case G::NOT_FOUND: return "NOT_FOUND";
    case G::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case G::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case G::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case G::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case G::ABORTED: return "ABORTED";
    case G::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case G::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case G::INTERNAL: return "INTERNAL";
    case G::UNAVAILABLE: return "UNAVAILABLE";
    case G::DATA_LOSS: return "DATA_LOSS";
    case G::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

bool is_retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

Status from_grpc(const grpc::Status& s, std::string_view context) {
  if (s.ok()) return Status::ok();
  using G = grpc::StatusCode;
  std::string message(context);
  message += ": ";
  message += grpc_code_name(s.error_code());
  message += ": ";
  message += s.error_message();
  switch (s.error_code()) {
    case G::INVALID_ARGUMENT: return Status::invalid_argument(std::move(message));
    case G::NOT_FOUND: return Status::not_found(std::move(message));
    case G::ALREADY_EXISTS: return Status::already_exists(std::move(message));
    case G::OUT_OF_RANGE: return Status::out_of_range(std::move(message));
    case G::RESOURCE_EXHAUSTED: return Status::resource_exhausted(std::move(message));
    case G::FAILED_PRECONDITION: return Status::failed_precondition(std::move(message));
    case G::UNAUTHENTICATED: return Status::unauthenticated(std::move(message));
    case G::PERMISSION_DENIED: return Status::permission_denied(std::move(message));
    case G::UNIMPLEMENTED: return Status(StatusCode::kUnimplemented, std::move(message));
    case G::UNAVAILABLE:
    case G::DEADLINE_EXCEEDED:
    case G::CANCELLED:
    case G::ABORTED: return Status::io_error(std::move(message));
    default: return Status::internal(std::move(message));
  }
}

}  // namespace vecstream

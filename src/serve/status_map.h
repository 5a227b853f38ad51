// The one mapping from Status to the transports' codes: HTTP status + JSON error body for REST,
// grpc::StatusCode for gRPC (as an int here, so this header needs no gRPC include).
//
//   Status code          HTTP  gRPC
//   INVALID_ARGUMENT     400   3  INVALID_ARGUMENT
//   NOT_FOUND            404   5  NOT_FOUND
//   ALREADY_EXISTS       409   6  ALREADY_EXISTS
//   OUT_OF_RANGE         400   11 OUT_OF_RANGE
//   RESOURCE_EXHAUSTED   429   8  RESOURCE_EXHAUSTED
//   FAILED_PRECONDITION  412   9  FAILED_PRECONDITION
//   UNAUTHENTICATED      401   16 UNAUTHENTICATED
//   PERMISSION_DENIED    403   7  PERMISSION_DENIED
//   CORRUPTION / IO / INTERNAL  500  13 INTERNAL
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace vecstream {

int http_status_of(const Status& s);
int grpc_code_of(const Status& s);
/// {"error": {"code": "INVALID_ARGUMENT", "message": "..."}}
nlohmann::json error_body(const Status& s);

}  // namespace vecstream

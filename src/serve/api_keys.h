// ApiKeys: API keys with roles, optionally limited to some collections. Transports look the
// presented key up (REST: "Authorization: Bearer <key>" or "X-Api-Key"; gRPC: metadata
// "authorization" / "x-api-key") and hand the Principal to the Service.
//
// Configured as a list of {name, key, role: read|write|admin, collections: [...]}; with no keys
// configured every caller is an anonymous admin (the embedded default on localhost). Keys are
// compared in constant time and never logged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "serve/service.h"

namespace vecstream {

struct ApiKey {
  std::string name;
  std::string key;
  Role role = Role::kRead;
  std::vector<std::string> collections;  // empty = all
};

class ApiKeys {
 public:
  ApiKeys() = default;
  explicit ApiKeys(std::vector<ApiKey> keys) : keys_(std::move(keys)) {}
  /// [{"name":..., "key":..., "role":"read|write|admin", "collections":[...]}, ...]
  static Result<ApiKeys> from_json(const nlohmann::json& j);

  bool enabled() const { return !keys_.empty(); }
  /// The principal for a presented key (empty = none presented). UNAUTHENTICATED when keys are
  /// configured and the key is missing or unknown.
  Result<Principal> authenticate(std::string_view presented) const;

 private:
  std::vector<ApiKey> keys_;
};

Result<Role> parse_role(std::string_view s);
std::string_view role_name(Role r);

}  // namespace vecstream

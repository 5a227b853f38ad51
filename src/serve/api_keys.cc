#include "serve/api_keys.h"

namespace vecstream {

namespace {

bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

Result<Role> parse_role(std::string_view s) {
  if (s == "read") return Role::kRead;
  if (s == "write") return Role::kWrite;
  if (s == "admin") return Role::kAdmin;
  return Status::invalid_argument("unknown role \"" + std::string(s) + "\" (read, write, admin)");
}

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kRead: return "read";
    case Role::kWrite: return "write";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

Result<ApiKeys> ApiKeys::from_json(const nlohmann::json& j) {
  if (!j.is_array()) return Status::invalid_argument("api_keys: must be a list");
  std::vector<ApiKey> keys;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    const std::string where = "api_keys[" + std::to_string(i) + "]";
    if (!e.is_object()) return Status::invalid_argument(where + ": must be an object");
    ApiKey k;
    if (!e.contains("key") || !e["key"].is_string() || e["key"].get<std::string>().size() < 16) {
      return Status::invalid_argument(where + ".key: a string of at least 16 characters");
    }
    k.key = e["key"].get<std::string>();
    k.name = e.value("name", "key-" + std::to_string(i));
    auto role = parse_role(e.value("role", std::string("read")));
    if (!role.is_ok()) return Status::invalid_argument(where + ".role: " + role.status().message());
    k.role = *role;
    if (e.contains("collections")) {
      if (!e["collections"].is_array()) return Status::invalid_argument(where + ".collections: must be a list");
      for (const auto& c : e["collections"]) {
        if (!c.is_string()) return Status::invalid_argument(where + ".collections: names are strings");
        k.collections.push_back(c.get<std::string>());
      }
    }
    for (const ApiKey& other : keys) {
      if (other.key == k.key) return Status::invalid_argument(where + ": duplicate key");
    }
    keys.push_back(std::move(k));
  }
  return ApiKeys(std::move(keys));
}

Result<Principal> ApiKeys::authenticate(std::string_view presented) const {
  if (keys_.empty()) return Principal{};
  if (presented.empty()) return Status::unauthenticated("an API key is required");
  const ApiKey* match = nullptr;
  for (const ApiKey& k : keys_) {
    if (equal_constant_time(k.key, presented)) match = &k;
  }
  if (!match) return Status::unauthenticated("unknown API key");
  return Principal{match->name, match->role, match->collections};
}

}  // namespace vecstream

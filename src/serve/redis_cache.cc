// RedisCache: GET/SET PX over a small pool of hiredis connections (see redis_cache.h).
#include "serve/redis_cache.h"

#include <signal.h>
#include <sys/time.h>

#include <algorithm>

#include <hiredis/hiredis.h>

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply command(redisContext* ctx, std::initializer_list<std::string_view> args) {
  const char* argv[8];
  size_t lens[8];
  int n = 0;
  for (std::string_view a : args) {
    argv[n] = a.data();
    lens[n] = a.size();
    ++n;
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(ctx, n, argv, lens)));
}

// hiredis writes with write(2): a peer that closed the socket would raise SIGPIPE and kill the
// process. A server ignores SIGPIPE anyway; do so unless the program installed its own handler.
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigemptyset(&ign.sa_mask);
      sigaction(SIGPIPE, &ign, nullptr);
    }
    return true;
  }();
  (void)done;
}

}  // namespace

struct RedisCache::Conn {
  redisContext* ctx = nullptr;
  Clock::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  ~Conn() {
    if (ctx) redisFree(ctx);
  }
};

RedisCache::RedisCache(RedisCacheOptions options) : options_(std::move(options)) {
  ignore_sigpipe_once();
  options_.pool_size = std::max<size_t>(options_.pool_size, 1);
  options_.ttl = std::max(options_.ttl, std::chrono::milliseconds(1));
  for (size_t i = 0; i < options_.pool_size; ++i) {
    conns_.push_back(std::make_unique<Conn>());
    free_.push_back(conns_.back().get());
  }
}

RedisCache::~RedisCache() = default;

bool RedisCache::connect(Conn* c) {
  const timeval ct = to_timeval(options_.connect_timeout);
  redisContext* ctx = options_.unix_socket.empty()
                          ? redisConnectWithTimeout(options_.host.c_str(), options_.port, ct)
                          : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), ct);
  if (ctx == nullptr) return false;
  auto fail = [&] {
    redisFree(ctx);
    return false;
  };
  if (ctx->err != 0) return fail();
  if (redisSetTimeout(ctx, to_timeval(options_.command_timeout)) != REDIS_OK) return fail();
  if (!options_.password.empty()) {
    Reply r = options_.username.empty()
                  ? command(ctx, {"AUTH", options_.password})
                  : command(ctx, {"AUTH", options_.username, options_.password});
    if (!r || r->type == REDIS_REPLY_ERROR) return fail();
  }
  if (options_.db != 0) {
    const std::string db = std::to_string(options_.db);
    Reply r = command(ctx, {"SELECT", db});
    if (!r || r->type == REDIS_REPLY_ERROR) return fail();
  }
  c->ctx = ctx;
  return true;
}

RedisCache::Conn* RedisCache::acquire() {
  Conn* c = nullptr;
  {
    std::unique_lock lk(mu_);
    if (!free_cv_.wait_for(lk, options_.pool_wait, [&] { return !free_.empty(); })) {
      ++busy_;
      return nullptr;
    }
    // Prefer a live connection; then one whose backoff is over.
    const auto now = Clock::now();
    auto it = std::find_if(free_.begin(), free_.end(), [](Conn* x) { return x->ctx != nullptr; });
    if (it == free_.end()) {
      it = std::find_if(free_.begin(), free_.end(), [&](Conn* x) { return x->retry_at <= now; });
    }
    if (it == free_.end()) {  // every free connection is down and backing off
      ++errors_;
      return nullptr;
    }
    c = *it;
    free_.erase(it);
  }
  if (c->ctx == nullptr && !connect(c)) {
    ++errors_;
    release(c, true);
    return nullptr;
  }
  return c;
}

void RedisCache::release(Conn* c, bool failed) {
  if (failed) {
    if (c->ctx) {
      redisFree(c->ctx);
      c->ctx = nullptr;
    }
    c->backoff = c->backoff.count() == 0 ? options_.backoff_min
                                         : std::min(c->backoff * 2, options_.backoff_max);
    c->retry_at = Clock::now() + c->backoff;
  } else {
    c->backoff = std::chrono::milliseconds(0);
  }
  {
    std::lock_guard lk(mu_);
    free_.push_back(c);
  }
  free_cv_.notify_one();
}

std::optional<std::string> RedisCache::get(std::string_view key) {
  Conn* c = acquire();
  if (c == nullptr) {
    ++misses_;
    return std::nullopt;
  }
  std::string k = options_.key_prefix;
  k += key;
  Reply r = command(c->ctx, {"GET", k});
  if (!r) {  // I/O error or timeout: the connection is unusable
    ++errors_;
    ++misses_;
    release(c, true);
    return std::nullopt;
  }
  release(c, false);
  if (r->type == REDIS_REPLY_STRING) {
    ++hits_;
    return std::string(r->str, r->len);
  }
  if (r->type != REDIS_REPLY_NIL) ++errors_;  // e.g. -NOAUTH, -WRONGTYPE
  ++misses_;
  return std::nullopt;
}

void RedisCache::put(std::string_view key, std::string_view value) {
  if (value.size() > options_.max_value_bytes) return;
  Conn* c = acquire();
  if (c == nullptr) return;
  std::string k = options_.key_prefix;
  k += key;
  const std::string px = std::to_string(options_.ttl.count());
  Reply r = command(c->ctx, {"SET", k, value, "PX", px});
  if (!r) {
    ++errors_;
    release(c, true);
    return;
  }
  release(c, false);
  if (r->type == REDIS_REPLY_ERROR) {
    ++errors_;
    return;
  }
  ++puts_;
}

CacheStats RedisCache::stats() const {
  CacheStats st;
  st.hits = hits_.load();
  st.misses = misses_.load();
  st.puts = puts_.load();
  st.errors = errors_.load();
  return st;
}

std::string RedisCache::describe() const {
  std::string where = options_.unix_socket.empty()
                          ? options_.host + ":" + std::to_string(options_.port)
                          : "unix:" + options_.unix_socket;
  return "redis(" + where + ", db=" + std::to_string(options_.db) + ", prefix=\"" +
         options_.key_prefix + "\", ttl_ms=" + std::to_string(options_.ttl.count()) +
         ", pool=" + std::to_string(options_.pool_size) + ")";
}

}  // namespace vecstream

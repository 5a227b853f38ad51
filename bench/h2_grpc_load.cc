#include "h2_grpc_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vecstream::bench {

namespace pb = ::vecstream::v1;

namespace {

constexpr char kSearchPath[] = "/vecstream.v1.Vecstream/Search";
constexpr char kStreamPath[] = "/vecstream.v1.Vecstream/SearchStream";
constexpr size_t kPrefix = 5;  // gRPC message prefix: compressed flag, 4-byte big-endian length
constexpr int32_t kWindow = 1 << 24;

nghttp2_nv header(const char* name, const std::string& value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), std::strlen(name),
                    value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

uint32_t be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

}  // namespace

struct H2GrpcLoad::Conn {
  H2GrpcLoad* owner = nullptr;
  size_t slot = 0;
  bool stream = false;  // the slot's queries go as messages on one SearchStream
  int fd = -1;
  nghttp2_session* session = nullptr;
  bool broken = false;
  std::string broken_why;
  bool want_out = false;  // registered for EPOLLOUT (the socket refused bytes)
  std::string unsent;     // serialised frames the socket has not taken yet
  size_t unsent_pos = 0;
  // The current HTTP/2 stream: a unary call, or the slot's SearchStream.
  int32_t stream_id = -1;
  const std::string* body = nullptr;  // the framed request being sent
  size_t body_pos = 0;
  bool deferred = false;   // the data source waits for a message (SearchStream)
  bool half_close = false; // end the request stream once the body is out
  std::string in;          // DATA bytes of the current answer(s)
  int grpc_status = -1;
  std::string grpc_message;
  bool http_error = false;
  // The query in flight.
  bool busy = false;
  size_t q = 0;
  LoadClock::time_point from;
  std::string error;
  pb::SearchResponse resp;
  pb::SearchStreamResponse stream_resp;

  void finish(std::string why) {
    if (!busy) return;
    error = std::move(why);
    busy = false;
    owner->finished_.push_back(slot);
  }
  void fail(const std::string& why) {
    if (!broken) {
      broken_why = why;
      // A dead socket stays readable: stop polling it, or every wait would return at once.
      if (fd >= 0) ::epoll_ctl(owner->epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    }
    broken = true;
    finish("gRPC (h2): " + broken_why);
  }
};

namespace {

using Conn = H2GrpcLoad::Conn;

ssize_t on_read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                     nghttp2_data_source*, void* user) {
  Conn& c = *static_cast<Conn*>(user);
  const size_t left = c.body ? c.body->size() - c.body_pos : 0;
  if (left == 0) {
    c.body = nullptr;
    if (c.half_close) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    c.deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  const size_t n = std::min(left, length);
  std::memcpy(buf, c.body->data() + c.body_pos, n);
  c.body_pos += n;
  if (c.body_pos == c.body->size() && c.half_close) {
    c.body = nullptr;
    *flags |= NGHTTP2_DATA_FLAG_EOF;  // a unary call's request ends with its one message
  }
  return static_cast<ssize_t>(n);
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  Conn& c = *static_cast<Conn*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c.stream_id) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") {
    c.http_error = v != "200";
  } else if (n == "grpc-status") {
    c.grpc_status = std::atoi(std::string(v).c_str());
  } else if (n == "grpc-message") {
    c.grpc_message.assign(v);
  }
  return 0;
}

// SearchStream: every complete message in c.in answers the query in flight.
void take_stream_messages(Conn& c) {
  while (c.in.size() >= kPrefix) {
    const size_t len = be32(c.in.data() + 1);
    if (c.in.size() < kPrefix + len) return;
    const bool parsed = c.stream_resp.ParseFromArray(c.in.data() + kPrefix, static_cast<int>(len));
    c.in.erase(0, kPrefix + len);
    if (!parsed) {
      c.fail("an answer that does not parse");
    } else if (c.stream_resp.has_error()) {
      c.finish("gRPC stream: " + c.stream_resp.error().message());
    } else {
      c.finish("");
    }
  }
}

int on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user) {
  Conn& c = *static_cast<Conn*>(user);
  if (stream_id != c.stream_id) return 0;
  c.in.append(reinterpret_cast<const char*>(data), len);
  if (c.stream) take_stream_messages(c);
  return 0;
}

int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
  Conn& c = *static_cast<Conn*>(user);
  if (stream_id != c.stream_id) return 0;
  c.stream_id = -1;
  if (error_code != NGHTTP2_NO_ERROR) {
    c.fail("stream reset (HTTP/2 error " + std::to_string(error_code) + ")");
    return 0;
  }
  if (c.stream) {  // the slot's SearchStream is over: no query can use it any more
    if (c.half_close && !c.http_error && c.grpc_status == 0) return 0;  // as close() asked
    if (c.http_error || c.grpc_status != 0) {
      c.fail("SearchStream ended: " + (c.grpc_message.empty() ? "status " + std::to_string(c.grpc_status)
                                                               : c.grpc_message));
    } else {
      c.fail("SearchStream ended");
    }
    return 0;
  }
  if (c.http_error) {
    c.finish("gRPC (h2): HTTP status other than 200");
  } else if (c.grpc_status != 0) {
    c.finish("gRPC: " + (c.grpc_message.empty() ? "status " + std::to_string(c.grpc_status) : c.grpc_message));
  } else if (c.in.size() < kPrefix || c.in.size() != kPrefix + be32(c.in.data() + 1) ||
             !c.resp.ParseFromArray(c.in.data() + kPrefix, static_cast<int>(c.in.size() - kPrefix))) {
    c.finish("gRPC (h2): an answer that does not parse");
  } else {
    c.finish("");
  }
  return 0;
}

}  // namespace

H2GrpcLoad::H2GrpcLoad(int port, bool stream, size_t slots, const Requests& reqs)
    : stream_(stream), nq_(static_cast<size_t>(reqs.size())),
      k_(reqs.empty() || reqs[0].k() == 0 ? 10 : reqs[0].k()),
      authority_("127.0.0.1:" + std::to_string(port)) {
  framed_.reserve(nq_);
  for (const pb::SearchRequest& r : reqs) {
    std::string f(kPrefix, '\0');
    const uint32_t len = static_cast<uint32_t>(r.ByteSizeLong());
    f[1] = static_cast<char>(len >> 24);
    f[2] = static_cast<char>(len >> 16);
    f[3] = static_cast<char>(len >> 8);
    f[4] = static_cast<char>(len);
    r.AppendToString(&f);
    framed_.push_back(std::move(f));
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  for (size_t i = 0; i < slots; ++i) {
    auto c = std::make_unique<Conn>();
    c->owner = this;
    c->slot = i;
    c->stream = stream;
    c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c->fd < 0 || ::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      c->broken = true;
      c->broken_why = std::string("connect: ") + std::strerror(errno);
      conns_.push_back(std::move(c));
      continue;
    }
    const int one = 1;
    ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(c->fd, F_SETFL, ::fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev);
    nghttp2_session_client_new(&c->session, cb, c.get());
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kWindow}};
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, kWindow);
    conns_.push_back(std::move(c));
  }
  nghttp2_session_callbacks_del(cb);
}

H2GrpcLoad::~H2GrpcLoad() {
  close();
  for (auto& c : conns_) {
    if (c->session) nghttp2_session_del(c->session);
    if (c->fd >= 0) ::close(c->fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

GrpcAnswers H2GrpcLoad::run(double seconds, double rate) {
  return run_schedule(*this, conns_.size(), nq_, k_, seconds, rate);
}

std::string H2GrpcLoad::warm_up() {
  const auto never = LoadClock::time_point::max();
  for (size_t i = 0; i < conns_.size(); ++i) send(i, i % nq_, LoadClock::now());
  for (;;) {
    while (!finished_.empty()) pop_finished(nullptr, never);
    bool busy = false;
    for (const auto& c : conns_) busy = busy || c->busy;
    if (!busy) break;
    pump(LoadClock::now() + std::chrono::seconds(10));
  }
  return warm_error_;
}

void H2GrpcLoad::send(size_t slot, size_t q, LoadClock::time_point from) {
  Conn& c = *conns_[slot];
  c.busy = true;
  c.q = q;
  c.from = from;
  c.error.clear();
  if (c.broken) {
    c.fail(c.broken_why);
    return;
  }
  c.body = &framed_[q];
  c.body_pos = 0;
  if (stream_ && c.stream_id >= 0) {  // the next message on the slot's open SearchStream
    c.deferred = false;
    nghttp2_session_resume_data(c.session, c.stream_id);
  } else {  // a unary call, or the slot's first query opens its SearchStream
    static const std::string kPost = "POST", kHttp = "http", kGrpc = "application/grpc",
                             kTrailers = "trailers", kAgent = "vecstream-bench-h2";
    static const std::string kSearch = kSearchPath, kStream = kStreamPath;
    const nghttp2_nv hdrs[] = {header(":method", kPost),      header(":scheme", kHttp),
                               header(":path", stream_ ? kStream : kSearch),
                               header(":authority", authority_), header("content-type", kGrpc),
                               header("te", kTrailers),        header("user-agent", kAgent)};
    nghttp2_data_provider provider{};
    provider.read_callback = on_read_body;
    c.half_close = !stream_;
    c.deferred = false;
    c.in.clear();
    c.grpc_status = -1;
    c.grpc_message.clear();
    c.http_error = false;
    c.stream_id = nghttp2_submit_request(c.session, nullptr, hdrs, sizeof hdrs / sizeof hdrs[0], &provider, &c);
    if (c.stream_id < 0) {
      c.fail(std::string("submit: ") + nghttp2_strerror(c.stream_id));
      return;
    }
  }
  flush(c);
}

void H2GrpcLoad::flush(Conn& c) {
  if (c.broken || !c.session) return;
  // Every frame the session has ready, then one send: a query's HEADERS and DATA frames leave
  // in one segment, which the server reads in one go.
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(c.session, &data);
    if (n < 0) {
      c.fail(std::string("send: ") + nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) break;
    c.unsent.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  while (c.unsent_pos < c.unsent.size()) {
    const ssize_t n = ::send(c.fd, c.unsent.data() + c.unsent_pos, c.unsent.size() - c.unsent_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c.unsent_pos += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      c.fail(std::string("send: ") + std::strerror(errno));
      return;
    }
  }
  if (c.unsent_pos == c.unsent.size()) {
    c.unsent.clear();
    c.unsent_pos = 0;
  }
  const bool want_out = !c.unsent.empty();
  if (want_out != c.want_out) {  // the socket is full: wait for room
    epoll_event ev{};
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
    ev.data.u64 = c.slot;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = want_out;
  }
}

bool H2GrpcLoad::pump(LoadClock::time_point wake) {
  epoll_event events[16];
  const int64_t wait_ns = wake == LoadClock::time_point::max()
                              ? -1
                              : std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                         wake - LoadClock::now()).count());
  timespec ts{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
  int n = ::epoll_pwait2(epoll_fd_, events, 16, wait_ns < 0 ? nullptr : &ts, nullptr);
  if (n < 0 && errno == ENOSYS) {  // a kernel before 5.11: millisecond waits, rounded up
    n = ::epoll_wait(epoll_fd_, events, 16, wait_ns < 0 ? -1 : static_cast<int>((wait_ns + 999999) / 1000000));
  }
  if (n <= 0) return false;
  char buf[1 << 16];
  for (int e = 0; e < n; ++e) {
    Conn& c = *conns_[events[e].data.u64];
    if (c.broken) continue;
    for (;;) {
      const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
      if (got > 0) {
        const ssize_t used = nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf),
                                                      static_cast<size_t>(got));
        if (used < 0) {
          c.fail(std::string("receive: ") + nghttp2_strerror(static_cast<int>(used)));
          break;
        }
        if (static_cast<size_t>(got) < sizeof buf) break;
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (got < 0 && errno == EINTR) continue;
      c.fail(got == 0 ? "the server closed the connection" : std::string("recv: ") + std::strerror(errno));
      break;
    }
    flush(c);  // window updates, pings' acks, and what waited for room
  }
  return true;
}

size_t H2GrpcLoad::pop_finished(GrpcAnswers* out, LoadClock::time_point deadline) {
  const size_t slot = finished_.front();
  finished_.pop_front();
  Conn& c = *conns_[slot];
  const pb::SearchResponse& r = stream_ ? c.stream_resp.result() : c.resp;
  if (out) {
    book_answer(out, c.q, c.from, deadline, c.error, r);
  } else if (!c.error.empty() && warm_error_.empty()) {
    warm_error_ = c.error;
  }
  return slot;
}

bool H2GrpcLoad::wait_one(GrpcAnswers* out, LoadClock::time_point deadline, LoadClock::time_point wake,
                          size_t* done) {
  while (finished_.empty()) {
    if (!pump(wake) && LoadClock::now() >= wake) return false;
  }
  *done = pop_finished(out, deadline);
  return true;
}

void H2GrpcLoad::close() {
  if (closed_) return;
  closed_ = true;
  // SearchStream: half-close every stream and wait (a while) for the server to end them.
  if (stream_) {
    for (auto& c : conns_) {
      if (c->broken || c->stream_id < 0) continue;
      c->half_close = true;
      if (c->deferred) {
        c->deferred = false;
        nghttp2_session_resume_data(c->session, c->stream_id);
      }
      flush(*c);
    }
    const LoadClock::time_point limit = LoadClock::now() + std::chrono::seconds(2);
    for (;;) {
      bool open = false;
      for (const auto& c : conns_) open = open || (!c->broken && c->stream_id >= 0);
      if (!open || LoadClock::now() >= limit) break;
      pump(limit);
    }
  }
  for (auto& c : conns_) {
    if (c->broken || !c->session) continue;
    nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
    flush(*c);
  }
  finished_.clear();
}

}  // namespace vecstream::bench

#include "sluice/transport/tcp_channel.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <utility>

#include "sluice/channel/channel_registry.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {
// Enough buffers per writev to batch a pipelined burst; IOV_MAX is 1024.
constexpr std::size_t kMaxIov = 64;

uv_stream_t* as_stream(uv_tcp_t* t) { return reinterpret_cast<uv_stream_t*>(t); }
}  // namespace

std::shared_ptr<TcpChannel> TcpChannel::create(EventLoop& loop, ChannelOptions options) {
  return create(loop, std::make_shared<const ChannelOptions>(options));
}

namespace {
// What WithRoomAfter is asked for and tells back, for the one allocation
// allocate_shared makes on this thread. Not in the allocator: a stateful
// allocator is stored in the shared_ptr's block, 16 bytes per connection.
struct RoomRequest {
  std::size_t extra = 0;
  void* room = nullptr;
};
thread_local RoomRequest t_room;

/// Allocates the shared_ptr's block (reference counts and channel) with
/// t_room.extra bytes after it, and says in t_room.room where they begin.
template <class T>
struct WithRoomAfter {
  using value_type = T;
  WithRoomAfter() noexcept = default;
  template <class U>
  WithRoomAfter(const WithRoomAfter<U>&) noexcept {}
  T* allocate(std::size_t n) {
    // The room starts aligned for any handler (malloc's blocks are).
    constexpr std::size_t kAlign = alignof(std::max_align_t);
    std::size_t head = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    auto* bytes = static_cast<char*>(::operator new(head + t_room.extra));
    t_room.room = bytes + head;
    return reinterpret_cast<T*>(bytes);
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const WithRoomAfter<U>&) const noexcept {
    return true;
  }
};
}  // namespace

std::shared_ptr<TcpChannel> TcpChannel::create(EventLoop& loop, std::shared_ptr<const ChannelOptions> options,
                                               std::size_t block_bytes) {
  if (block_bytes == 0) return std::make_shared<TcpChannel>(Key{}, loop, std::move(options));
  t_room = RoomRequest{block_bytes, nullptr};
  auto channel = std::allocate_shared<TcpChannel>(WithRoomAfter<TcpChannel>(), Key{}, loop, std::move(options));
  channel->pipeline().give_block(t_room.room, t_room.extra);
  t_room = RoomRequest{};
  return channel;
}

TcpChannel::TcpChannel(Key, EventLoop& loop, std::shared_ptr<const ChannelOptions> options)
    : Channel(loop, std::move(options)) {
  int rc = uv_tcp_init(loop.uv(), &handle_);
  if (rc != 0) throw std::runtime_error(std::string("uv_tcp_init: ") + uv_strerror(rc));
  handle_.data = this;
}

SocketAddress TcpChannel::transport_local_address() const {
  if (closed()) return {};
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  return SocketAddress::from(reinterpret_cast<sockaddr*>(&addr));
}

void TcpChannel::start(const ChannelInitializer& initializer) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    remote_address_ = SocketAddress::from(reinterpret_cast<sockaddr*>(&addr));
  }
  ChannelRegistry::of(loop()).add(shared_from_this());
  try {
    if (initializer) initializer(*this);
  } catch (const std::exception& e) {
    log().error("channel {}: initializer threw: {}", id(), e.what());
    close_now();
    return;
  }
  activate();
}

void TcpChannel::transport_start_reading() {
  int rc = uv_read_start(as_stream(&handle_), &TcpChannel::on_alloc, &TcpChannel::on_read);
  if (rc != 0) transport_failed("read start", rc);
}

void TcpChannel::transport_stop_reading() { uv_read_stop(as_stream(&handle_)); }

void TcpChannel::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpChannel*>(handle->data);
  buf->base = self->loop().read_slab();
  buf->len = self->loop().read_slab_size();
}

void TcpChannel::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpChannel*>(stream->data);
  if (nread > 0) {
    Buffer bytes = Buffer::borrow(buf->base, static_cast<std::size_t>(nread));
    self->bytes_read(bytes);
  } else if (nread == UV_EOF) {
    self->peer_shutdown_output();
  } else if (nread < 0) {
    self->transport_failed("read", static_cast<int>(nread));
  }
}

void TcpChannel::consume_written(std::size_t n) noexcept {
  while (n > 0) {
    Buffer& front = outbound_.front();
    std::size_t take = std::min(n, front.readable_bytes());
    front.retrieve(take);
    n -= take;
    if (front.empty()) {
      outbound_.pop_front();
      --flushed_count_;
    }
  }
}

void TcpChannel::transport_flush() {
  while (!writing_ && !closed() && flushed_count_ > 0) {
    uv_buf_t bufs[kMaxIov];
    std::size_t count = std::min(flushed_count_, kMaxIov);
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
      Buffer& b = outbound_[i];
      bufs[i] = uv_buf_init(b.peek_mut(), static_cast<unsigned>(b.readable_bytes()));
      total += b.readable_bytes();
    }
    int rc = uv_try_write(as_stream(&handle_), bufs, static_cast<unsigned>(count));
    if (rc == UV_EAGAIN) rc = 0;
    if (rc < 0) {
      transport_failed("write", rc);
      return;
    }
    auto written = static_cast<std::size_t>(rc);
    consume_written(written);
    bool all_taken = written == total;
    if (written > 0) bytes_sent(written);  // may close the channel
    if (!all_taken && !closed()) write_rest();
  }
}

void TcpChannel::write_rest() {
  // The kernel's buffer is full: one uv_write takes the next batch and tells
  // us when the socket drained it.
  std::size_t count = std::min(flushed_count_, kMaxIov);
  uv_buf_t bufs[kMaxIov];
  Requests& w = requests();
  w.write_bytes = 0;
  for (std::size_t i = 0; i < count; ++i) {
    w.write_buffers.push_back(std::move(outbound_.front()));
    outbound_.pop_front();
    Buffer& b = w.write_buffers.back();
    bufs[i] = uv_buf_init(b.peek_mut(), static_cast<unsigned>(b.readable_bytes()));
    w.write_bytes += b.readable_bytes();
  }
  flushed_count_ -= count;
  w.write.data = this;
  int rc = uv_write(&w.write, as_stream(&handle_), bufs, static_cast<unsigned>(count), &TcpChannel::on_write);
  if (rc != 0) {
    w.write_buffers.clear();
    transport_failed("write", rc);
    return;
  }
  writing_ = true;
}

void TcpChannel::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<TcpChannel*>(req->data);
  self->writing_ = false;
  Requests& w = *self->requests_;
  std::size_t sent = w.write_bytes;
  w.write_buffers.clear();
  w.write_bytes = 0;
  if (self->closed()) return;
  if (status < 0) {
    self->transport_failed("write", status);
    return;
  }
  self->bytes_sent(sent);
  if (!self->closed()) self->transport_flush();
}

void TcpChannel::transport_shutdown_output() {
  uv_shutdown_t& req = requests().shutdown;
  req.data = this;
  int rc = uv_shutdown(&req, as_stream(&handle_), &TcpChannel::on_shutdown);
  if (rc != 0) log().debug("channel {}: shutdown: {}", id(), uv_strerror(rc));
}

void TcpChannel::on_shutdown(uv_shutdown_t*, int) {}

TcpChannel::Requests& TcpChannel::requests() {
  if (!requests_) requests_ = std::make_unique<Requests>();
  return *requests_;
}

void TcpChannel::transport_close() {
  auto* h = reinterpret_cast<uv_handle_t*>(&handle_);
  if (uv_is_closing(h)) return;
  // libuv owns the handle until on_close: keep the channel alive until then,
  // even if it was never registered with its loop (a refused connection).
  // The reference rides in the handle's data, which nothing else reads once
  // the handle is closing (reading has stopped; requests carry their own
  // data), rather than in a member every open connection would pay for.
  h->data = new std::shared_ptr<TcpChannel>(std::static_pointer_cast<TcpChannel>(shared_from_this()));
  uv_close(h, &TcpChannel::on_close);
}

void TcpChannel::on_close(uv_handle_t* handle) {
  std::unique_ptr<std::shared_ptr<TcpChannel>> keep(static_cast<std::shared_ptr<TcpChannel>*>(handle->data));
  TcpChannel* self = keep->get();
  handle->data = self;
  if (self->close_observer_ != nullptr) std::exchange(self->close_observer_, nullptr)->channel_closed(*self);
  self->transport_closed();
}

}  // namespace sluice

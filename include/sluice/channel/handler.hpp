#pragma once
// Handler classes: the unit of protocol and application logic in a pipeline.
//
// A handler declares the message types it consumes and produces, as in
// wangle's Handler<Rin, Rout, Win, Wout>:
//
//   inbound  (socket -> application):  read(ctx, Rin&)   then ctx.fire_read(Rout&)
//   outbound (application -> socket):  write(ctx, Win&)  then ctx.write(Wout&)
//
// The pipeline checks when it is assembled that each handler's output type is
// the next one's input (Pipeline::validate), so a mismatch is a clear error at
// start-up instead of a bad cast at run time. Handlers that only look at one
// direction derive from InboundHandler or OutboundHandler; the other direction
// passes through them untouched. Every callback runs on the channel's loop.

#include <exception>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "sluice/channel/message.hpp"

namespace sluice {

class HandlerContext;

/// Base of every user event (fired with HandlerContext::fire_user_event).
/// Handlers recognise the events they care about with dynamic_cast.
struct UserEvent {
  virtual ~UserEvent() = default;
};

/// The peer shut down its sending side (read EOF). Unless the channel allows
/// half-closure (ChannelOptions::allow_half_close) it closes after this event.
struct InputShutdownEvent final : UserEvent {};

/// The loop group is shutting down gracefully (Channel::shutdown_gracefully).
/// By default the channel then closes as soon as its pending writes have
/// left (with a lingering close). A handler with work to finish first (HTTP
/// answering the requests it has read) calls finish_first() and closes the
/// channel itself when done; the group force-closes what is still open at
/// its deadline.
class GracefulShutdownEvent final : public UserEvent {
 public:
  /// "I will close this channel myself once my work is done." Loop thread.
  void finish_first() const noexcept { finish_first_ = true; }
  bool finishing_first() const noexcept { return finish_first_; }

 private:
  // Events travel as const references; this is the one answer they carry.
  mutable bool finish_first_ = false;
};

/// Untyped base of all handlers. Users derive from InboundHandler,
/// OutboundHandler or Handler below, not from this class directly.
class HandlerBase {
 public:
  virtual ~HandlerBase() = default;

  // Inbound events. The defaults pass the event on to the next handler.
  virtual void channel_active(HandlerContext& ctx);
  virtual void channel_inactive(HandlerContext& ctx);
  virtual void read_complete(HandlerContext& ctx);
  virtual void writability_changed(HandlerContext& ctx, bool writable);
  virtual void user_event(HandlerContext& ctx, const UserEvent& event);
  /// An exception thrown by this handler, or an error passed on by the one
  /// before. Unhandled at the end of the pipeline, it is logged and the
  /// channel closes.
  virtual void error(HandlerContext& ctx, const std::exception& error);

  // Outbound operations. The defaults pass them on towards the socket.
  virtual void flush(HandlerContext& ctx);
  virtual void close(HandlerContext& ctx);

  // Life cycle within the pipeline.
  virtual void handler_added(HandlerContext&) {}
  virtual void handler_removed(HandlerContext&) {}

  // Type-erased message entry points; typed handlers implement these.
  virtual void read_erased(HandlerContext& ctx, MessageRef message);
  virtual void write_erased(HandlerContext& ctx, MessageRef message);

  /// Declared message types; nullptr means "does not take part in that
  /// direction" (messages pass through untouched).
  virtual const std::type_info* inbound_in() const noexcept { return nullptr; }
  virtual const std::type_info* inbound_out() const noexcept { return nullptr; }
  virtual const std::type_info* outbound_in() const noexcept { return nullptr; }
  virtual const std::type_info* outbound_out() const noexcept { return nullptr; }
};

/// Thrown when a message of the wrong type reaches a handler: only possible
/// when a pipeline is changed without validation or fed by hand.
class MessageTypeError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
[[noreturn]] void throw_type_mismatch(const std::type_info& expected, const MessageType& got, const char* where);

template <class T>
T& expect(MessageRef message, const char* where) {
  if (!message.is<T>()) throw_type_mismatch(typeid(T), *message.type, where);
  return *static_cast<T*>(message.object);
}
}  // namespace detail

/// Consumes inbound messages of type `In`, passes on messages of type `Out`.
/// Implement read(); forward with ctx.fire_read(out).
template <class In, class Out = In>
class InboundHandler : public HandlerBase {
 public:
  using inbound_in_type = In;
  using inbound_out_type = Out;

  /// `message` may be moved from. A Buffer read from a socket borrows the
  /// loop's read slab: copy what you keep beyond this call.
  virtual void read(HandlerContext& ctx, In& message) = 0;

  void read_erased(HandlerContext& ctx, MessageRef message) final {
    read(ctx, detail::expect<In>(message, "read"));
  }
  const std::type_info* inbound_in() const noexcept final { return &typeid(In); }
  const std::type_info* inbound_out() const noexcept final { return &typeid(Out); }
};

/// Consumes outbound messages of type `In`, passes on messages of type `Out`
/// towards the socket. Implement write(); forward with ctx.write(out).
template <class In, class Out = In>
class OutboundHandler : public HandlerBase {
 public:
  using outbound_in_type = In;
  using outbound_out_type = Out;

  virtual void write(HandlerContext& ctx, In& message) = 0;

  void write_erased(HandlerContext& ctx, MessageRef message) final {
    write(ctx, detail::expect<In>(message, "write"));
  }
  const std::type_info* outbound_in() const noexcept final { return &typeid(In); }
  const std::type_info* outbound_out() const noexcept final { return &typeid(Out); }
};

/// Both directions: a codec that decodes Rin into Rout and encodes Win into Wout.
template <class Rin, class Rout, class Win, class Wout>
class Handler : public HandlerBase {
 public:
  virtual void read(HandlerContext& ctx, Rin& message) = 0;
  virtual void write(HandlerContext& ctx, Win& message) = 0;

  void read_erased(HandlerContext& ctx, MessageRef message) final {
    read(ctx, detail::expect<Rin>(message, "read"));
  }
  void write_erased(HandlerContext& ctx, MessageRef message) final {
    write(ctx, detail::expect<Win>(message, "write"));
  }
  const std::type_info* inbound_in() const noexcept final { return &typeid(Rin); }
  const std::type_info* inbound_out() const noexcept final { return &typeid(Rout); }
  const std::type_info* outbound_in() const noexcept final { return &typeid(Win); }
  const std::type_info* outbound_out() const noexcept final { return &typeid(Wout); }
};

}  // namespace sluice

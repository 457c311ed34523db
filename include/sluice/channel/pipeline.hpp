#pragma once
// The ordered list of handlers a channel's events flow through.
//
//            socket                                   application
//   head  <->  [decoder]  <->  [encoder]  <->  [business]  <->  tail
//   inbound events (read, active, ...)   flow head -> tail
//   outbound operations (write, flush, close) flow tail -> head
//
// Each handler sits in a HandlerContext, which is how it passes events on.
// All of it is loop-thread only: a channel's pipeline runs on its loop.

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/channel/handler.hpp"

namespace sluice {

class Channel;
class EventLoop;
class Pipeline;

/// A handler's place in a pipeline: its view of the channel and the way it
/// passes events on. Loop thread only. Valid while the handler is in the
/// pipeline (and for the rest of the callback that removes it).
///
/// Every connection carries at least four contexts (head, tail and its
/// handlers), so a context is kept small: a handler's context and its name
/// are one allocation, the name stored right after the object:
///
///   [ pipeline_ | handler_ | prev_ | next_ ][ n a m e \0 ]
///
/// Head and tail live inside the Pipeline and have fixed names.
class HandlerContext {
 public:
  Channel& channel() const noexcept;
  EventLoop& loop() const noexcept;
  Pipeline& pipeline() const noexcept { return *pipeline_; }
  /// Valid as long as the context.
  std::string_view name() const noexcept;
  HandlerBase& handler() const noexcept { return *handler_; }

  // Inbound: pass to the next handler towards the tail.
  template <class T>
  void fire_read(T&& message) {
    static_assert(!std::is_const_v<std::remove_reference_t<T>>, "messages are passed as mutable objects");
    auto& object = message;  // an rvalue argument lives until the call returns
    fire_read_erased(MessageRef::of(object));
  }
  void fire_read_erased(MessageRef message);
  void fire_channel_active();
  void fire_channel_inactive();
  void fire_read_complete();
  void fire_writability_changed(bool writable);
  void fire_user_event(const UserEvent& event);
  void fire_error(const std::exception& error);

  // Outbound: pass to the next handler towards the socket.
  template <class T>
  void write(T&& message) {
    static_assert(!std::is_const_v<std::remove_reference_t<T>>, "messages are passed as mutable objects");
    auto& object = message;
    write_erased(MessageRef::of(object));
  }
  void write_erased(MessageRef message);
  void flush();
  template <class T>
  void write_and_flush(T&& message) {
    write(std::forward<T>(message));
    flush();
  }
  void close();

  // Frees what make() allocated (the context and its name).
  static void operator delete(void* p) noexcept { ::operator delete(p); }

 private:
  friend class Pipeline;
  HandlerContext(Pipeline& pipeline, std::shared_ptr<HandlerBase> handler) noexcept
      : pipeline_(&pipeline), handler_(std::move(handler)) {}
  /// A handler's context, with `name` stored after it; `delete` frees both.
  static HandlerContext* make(Pipeline& pipeline, std::string_view name, std::shared_ptr<HandlerBase> handler);

  // Calls into this context's handler; an exception becomes an error event
  // on this handler.
  void invoke_read(MessageRef message) noexcept;
  void invoke_write(MessageRef message) noexcept;
  template <class Fn>
  void invoke(Fn&& fn) noexcept;
  void handler_threw(const std::exception& error) noexcept;

  Pipeline* pipeline_;
  std::shared_ptr<HandlerBase> handler_;
  HandlerContext* prev_ = nullptr;
  HandlerContext* next_ = nullptr;
};

/// Thrown by Pipeline::validate (and by add/replace on an active channel) when
/// a handler's output type is not the next handler's input type. remove()
/// does not validate: an upgrade may pass through a briefly mismatched
/// pipeline on its way to the next protocol.
class PipelineTypeError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// A channel's handlers. Loop thread only (build it in the channel
/// initializer, which runs on the channel's loop).
class Pipeline {
 public:
  explicit Pipeline(Channel& channel);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Adds a handler; names are unique within a pipeline (and hold no NUL
  /// character). On an active channel
  /// the result is validated at once and a type mismatch throws (and the
  /// change is undone).
  Pipeline& add_last(std::string_view name, std::shared_ptr<HandlerBase> handler);
  Pipeline& add_first(std::string_view name, std::shared_ptr<HandlerBase> handler);
  Pipeline& add_before(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler);
  Pipeline& add_after(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler);
  template <class H, class... Args>
  H& emplace_last(std::string_view name, Args&&... args) {
    auto handler = std::make_shared<H>(std::forward<Args>(args)...);
    H& ref = *handler;
    add_last(name, std::move(handler));
    return ref;
  }

  /// Removes a handler by name (it may be the one running now). Returns the
  /// handler, or nullptr when no handler has that name.
  std::shared_ptr<HandlerBase> remove(std::string_view name);
  /// Swaps the handler called `name` for another (e.g. an HTTP upgrade).
  std::shared_ptr<HandlerBase> replace(std::string_view name, std::string_view new_name,
                                       std::shared_ptr<HandlerBase> handler);

  HandlerBase* get(std::string_view name) const noexcept;
  template <class H>
  H* get(std::string_view name) const noexcept {
    return dynamic_cast<H*>(get(name));
  }
  HandlerContext* context(std::string_view name) const noexcept;
  std::vector<std::string> names() const;

  /// Checks that the message types line up from the socket to the
  /// application and back. Throws PipelineTypeError with the first mismatch.
  void validate() const;

  // Entry points the channel uses: inbound events start at the head,
  // outbound operations at the tail.
  void fire_channel_active();
  void fire_channel_inactive();
  void fire_read(MessageRef message);
  void fire_read_complete();
  void fire_writability_changed(bool writable);
  void fire_user_event(const UserEvent& event);
  void fire_error(const std::exception& error);
  void write(MessageRef message);
  void flush();
  void close();

  Channel& channel() const noexcept { return *channel_; }

 private:
  friend class HandlerContext;  // name(): head and tail are told by their address
  HandlerContext* find(std::string_view name) const noexcept;
  HandlerContext* link_after(HandlerContext* prev, std::string_view name, std::shared_ptr<HandlerBase> handler);
  void unlink(HandlerContext* ctx);
  void validate_if_active(HandlerContext* added);

  Channel* channel_;
  // Inside the pipeline, not on the heap: every connection has them.
  HandlerContext head_;
  HandlerContext tail_;
};

}  // namespace sluice

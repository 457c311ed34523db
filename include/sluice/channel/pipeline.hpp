#pragma once
// The ordered list of handlers a channel's events flow through.
//
//              socket                                       application
//   channel  <->  [decoder]  <->  [encoder]  <->  [business]  <->  channel
//   (head)        first                            last            (tail)
//   inbound events (read, active, ...)   flow first -> last, then to the tail
//   outbound operations (write, flush, close) flow last -> first, then to the head
//
// Each handler sits in a HandlerContext, which is how it passes events on.
// The two ends are not contexts but the channel's own behaviour: past the
// last context, what nobody consumed (Channel::inbound_unhandled,
// unhandled_user_event, unhandled_error); past the first, the socket
// (Channel::outbound_enqueue, outbound_flush, outbound_close). A pipeline
// with no handlers joins the two directly.
// All of it is loop-thread only: a channel's pipeline runs on its loop.

#include <cstdint>
#include <memory>
#include <new>
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
/// A context and what it holds are one piece of memory, placed in the
/// channel's own block when it has room (see Pipeline):
///
///   emplaced:  [ context ][ the handler itself ]
///   shared:    [ context ][ shared_ptr to a handler many channels use ]
///   borrowed:  [ context ]   (a handler something else keeps alive)
///
/// Names are interned: every context named "http-codec" holds the same
/// 4-byte number for the process's one copy of those characters, so a
/// connection stores no name of its own.
///
/// 40 bytes: the pipeline, the handler, the two neighbours, then the name's
/// number and what the context holds, packed in one word.
class HandlerContext {
 public:
  Channel& channel() const noexcept;  // inline, below Pipeline
  EventLoop& loop() const noexcept;
  Pipeline& pipeline() const noexcept { return *pipeline_; }
  /// Valid for the life of the process.
  std::string_view name() const noexcept;
  HandlerBase& handler() const noexcept { return *handler_; }

  // Inbound: pass to the next handler towards the application (past the
  // last one, to the channel's tail behaviour).
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

  // Outbound: pass to the next handler towards the socket (past the first
  // one, to the channel).
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

 private:
  friend class Pipeline;
  // What the memory after the context holds, and so how it is destroyed.
  enum class Holds : std::uint8_t {
    owned,     // the handler itself (emplace_*)
    shared,    // a shared_ptr<HandlerBase> (add_*)
    borrowed,  // nothing: the handler outlives the channel (add_last_borrowed)
  };
  HandlerContext(Pipeline& pipeline, HandlerBase& handler, std::uint32_t name, Holds holds,
                 std::uint16_t start) noexcept
      : pipeline_(&pipeline), handler_(&handler), name_(name), start_(start), holds_(holds) {}
  /// Runs the destructor of what the context holds and its own, and frees
  /// the memory unless it is in the channel's block.
  static void destroy(HandlerContext* ctx) noexcept;

  // Calls into this context's handler; an exception becomes an error event
  // on this handler.
  void invoke_read(MessageRef message) noexcept;
  void invoke_write(MessageRef message) noexcept;
  template <class Fn>
  void invoke(Fn&& fn) noexcept;
  void handler_threw(const std::exception& error) noexcept;

  Pipeline* pipeline_;
  HandlerBase* handler_;
  // Neighbours; nullptr at the ends, past which is the channel.
  HandlerContext* prev_ = nullptr;
  HandlerContext* next_ = nullptr;
  std::uint32_t name_;  // interned (see the class comment)
  // Where its placement began among the pipeline's (Pipeline::make_room),
  // in the block or past it on the heap.
  std::uint16_t start_;
  Holds holds_;
  // Pipeline::release(): an owned handler that goes on a later turn of the
  // loop instead of with the channel.
  bool released_ = false;
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
///
/// Handlers that belong to one connection are placed by value with
/// emplace_last<H>(name, args...): the handler and its context are built in
/// the channel's own block (a transport allocates the channel with room for
/// what its pipelines have needed so far; what does not fit goes on the
/// heap, in one allocation per handler). Handlers that many connections
/// share (a configuration, a router) are added by shared_ptr with add_last:
/// one object for all, and each channel holds a reference.
class Pipeline {
 public:
  explicit Pipeline(Channel& channel);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Builds an H in place after the last handler and returns it. Names
  /// are unique within a pipeline and hold no NUL character. On an active
  /// channel the result is validated at once, and a type mismatch throws
  /// (and the change is undone).
  template <class H, class... Args>
  H& emplace_last(std::string_view name, Args&&... args) {
    return emplace_after<H>(last_, name, std::forward<Args>(args)...);
  }
  template <class H, class... Args>
  H& emplace_first(std::string_view name, Args&&... args) {
    return emplace_after<H>(nullptr, name, std::forward<Args>(args)...);
  }
  /// Builds an H in place of the handler called `name` (a protocol upgrade
  /// swaps its codec): see replace().
  template <class H, class... Args>
  H& emplace_replace(std::string_view name, std::string_view new_name, Args&&... args) {
    HandlerContext& old = existing(name);
    Placement place = make_room(new_name, sizeof(H), alignof(H), &old);
    H* handler = construct<H>(place, std::forward<Args>(args)...);
    swap_in(old, init(place, *handler, HandlerContext::Holds::owned));
    return *handler;
  }

  /// Adds a handler that the caller (and maybe other channels) shares; the
  /// same rules as emplace_last.
  Pipeline& add_last(std::string_view name, std::shared_ptr<HandlerBase> handler);
  Pipeline& add_first(std::string_view name, std::shared_ptr<HandlerBase> handler);
  Pipeline& add_before(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler);
  Pipeline& add_after(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler);
  /// Adds a handler by reference, for one that the caller guarantees will
  /// outlive the channel: a pipeline's emplaced handler that owns it, say
  /// (HTTP's connection keeps the one dispatcher all its connections share,
  /// and an emplaced handler lives as long as its channel). Saves the
  /// shared_ptr's 16 bytes per connection; otherwise as add_last.
  Pipeline& add_last_borrowed(std::string_view name, HandlerBase& handler);

  /// Removes a handler by name (it may be the one running now); it is told
  /// at once (handler_removed). An emplaced handler is destroyed with the
  /// channel, whose block it lives in, so a reference to it that aliases the
  /// channel (`std::shared_ptr<H>(channel.shared_from_this(), &handler)`,
  /// as writers on other threads hold) never dangles; a pipeline that swaps
  /// handlers per message should add shared ones instead. A shared handler's
  /// context goes on a later turn of the loop. Returns whether a handler had
  /// that name.
  bool remove(std::string_view name);
  /// Removes an emplaced handler that nothing outside the pipeline refers
  /// to any more (HTTP leaving a connection it upgraded, once its writers
  /// can no longer reach it): like remove(), except that the handler is
  /// destroyed at the top of a later turn of the loop, as a shared
  /// handler's context is, and its room in the channel's block is used
  /// again when nothing placed after it is still there. Loop thread.
  /// Returns whether a handler had that name.
  bool release(std::string_view name);
  /// Swaps the handler called `name` for another (e.g. an HTTP upgrade).
  /// The new handler takes the old one's place before the old one leaves,
  /// so what the old one passes on while being removed (a decoder's held
  /// back bytes) reaches its successor, as in Netty.
  void replace(std::string_view name, std::string_view new_name, std::shared_ptr<HandlerBase> handler);

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

  // Entry points the channel uses: inbound events start at the first
  // handler, outbound operations at the last (with no handlers, each goes
  // straight to the channel's other end).
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

  /// For transports: room in the channel's block for contexts and handlers,
  /// given before the initializer runs. Loop thread.
  void give_block(void* bytes, std::size_t size) noexcept;
  /// Bytes the contexts and handlers placed now take, in the block or
  /// not (room that release() gave back is not counted): how much block
  /// the next channel of the same kind wants.
  std::size_t block_bytes_wanted() const noexcept { return block_used_; }

 private:
  friend class HandlerContext;
  struct Placement {
    void* memory;
    void* object;        // after the context
    std::uint32_t name;  // interned
    std::uint16_t start;  // in the order of placements, block or heap
  };
  bool in_block(const void* memory) const noexcept {
    // One unsigned comparison: below the block wraps around to far above it.
    return reinterpret_cast<std::uintptr_t>(memory) - reinterpret_cast<std::uintptr_t>(block_) < block_size_;
  }

  HandlerContext* find(std::string_view name) const noexcept;
  HandlerContext& existing(std::string_view name) const;
  /// Memory for a context and an object of `size` after it; checks `name`
  /// (unique except for `replacing`, no NUL).
  Placement make_room(std::string_view name, std::size_t size, std::size_t align,
                      const HandlerContext* replacing = nullptr);
  void give_back(const Placement& place) noexcept;
  template <class H, class... Args>
  H* construct(const Placement& place, Args&&... args) {
    static_assert(std::is_base_of_v<HandlerBase, H>, "a handler derives from HandlerBase");
    try {
      return new (place.object) H(std::forward<Args>(args)...);
    } catch (...) {
      give_back(place);
      throw;
    }
  }
  /// `prev` nullptr: at the start.
  template <class H, class... Args>
  H& emplace_after(HandlerContext* prev, std::string_view name, Args&&... args) {
    Placement place = make_room(name, sizeof(H), alignof(H));
    H* handler = construct<H>(place, std::forward<Args>(args)...);
    link_after(prev, init(place, *handler, HandlerContext::Holds::owned));
    return *handler;
  }
  HandlerContext& place_borrowed(std::string_view name, HandlerBase& handler);
  HandlerContext& place_shared(std::string_view name, std::shared_ptr<HandlerBase> handler,
                               const HandlerContext* replacing = nullptr);
  HandlerContext* init(const Placement& place, HandlerBase& handler, HandlerContext::Holds holds) noexcept;
  void link_after(HandlerContext* prev, HandlerContext* ctx);
  void swap_in(HandlerContext& old_ctx, HandlerContext* ctx);
  void unlink(HandlerContext* ctx);
  /// remove() and release().
  bool take_out(std::string_view name, bool released);
  void retire(HandlerContext* ctx);
  void destroy_retired(bool with_owned) noexcept;
  /// The placements from `from` on, when no context placed there is left,
  /// are free again (in the block, room for what comes next).
  void reclaim_block_from(std::uint32_t from) noexcept;
  /// The link that points at what follows `prev` (first_ when `prev` is
  /// nullptr, the start), and at what precedes `next` (last_ at the end).
  HandlerContext*& slot_after(HandlerContext* prev) noexcept { return prev != nullptr ? prev->next_ : first_; }
  HandlerContext*& slot_before(HandlerContext* next) noexcept { return next != nullptr ? next->prev_ : last_; }

  // Each event delivered at `ctx`, or, when `ctx` is nullptr, at the
  // channel's end of the pipeline in its direction (see the file comment).
  // The entry points start at first_ and last_; a context passes on to its
  // next_ or prev_. Defined (inline) in pipeline.cpp, the only user.
  inline void channel_active_at(HandlerContext* ctx);
  inline void channel_inactive_at(HandlerContext* ctx);
  inline void read_at(HandlerContext* ctx, MessageRef message);
  inline void read_complete_at(HandlerContext* ctx);
  inline void writability_changed_at(HandlerContext* ctx, bool writable);
  inline void user_event_at(HandlerContext* ctx, const UserEvent& event);
  void error_at(HandlerContext* ctx, const std::exception& error) noexcept;
  inline void write_at(HandlerContext* ctx, MessageRef message);
  inline void flush_at(HandlerContext* ctx);
  inline void close_at(HandlerContext* ctx);
  // The channel's ends: what the *_at functions do when `ctx` is nullptr.
  // The tail ignores the other inbound events.
  void read_at_tail(MessageRef message) noexcept;
  void user_event_at_tail(const UserEvent& event) noexcept;
  void write_at_head(MessageRef message) noexcept;
  void flush_at_head() noexcept;
  void close_at_head() noexcept;
  /// Past the last context: runs the channel's tail behaviour `fn`; what it
  /// throws is the channel's unhandled error.
  template <class Fn>
  void at_tail(Fn&& fn) noexcept;
  /// Past the first context: runs the channel's head behaviour `fn` (the
  /// socket); what it throws goes through every handler's error(), as if
  /// raised at the socket.
  template <class Fn>
  void at_head(Fn&& fn) noexcept;

  Channel* channel_;
  // The ends of the list of contexts (nullptr both when it is empty); the
  // channel's own behaviour lies beyond them, so no connection pays for
  // head and tail contexts.
  HandlerContext* first_ = nullptr;
  HandlerContext* last_ = nullptr;
  // The channel's block (give_block), used from the front; the room at its
  // end comes back when what was placed there is destroyed (release()).
  // block_used_ counts what did not fit too: past block_size_, placements
  // go on the heap.
  char* block_ = nullptr;
  std::uint32_t block_size_ = 0;
  std::uint32_t block_used_ = 0;
  // Removed contexts whose handler may still be running: made by the first
  // removal (most channels never remove a handler).
  std::unique_ptr<std::vector<HandlerContext*>> retired_;
};

// Inline: a handler asks for its channel on every message (tools/profile:
// about 18 instructions a request as a call).
inline Channel& HandlerContext::channel() const noexcept { return pipeline_->channel(); }

}  // namespace sluice

#include "sluice/channel/pipeline.hpp"

#include <algorithm>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "handler_names.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {

// Runs `fn`; hands what it throws to `on_error` as a std::exception.
template <class Fn, class OnError>
void catching(Fn&& fn, OnError&& on_error) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    on_error(e);
  } catch (...) {
    on_error(std::runtime_error("a handler threw a non-standard exception"));
  }
}

// Appended, not `"'" + std::string(...)`: GCC 12 at -O3 warns about the
// latter with a false -Wrestrict (its bug 105329).
std::string quoted(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.append(1, '\'').append(name).append(1, '\'');
  return out;
}

std::string describe(const std::type_info* type) { return type == nullptr ? "anything" : type_name(*type); }

constexpr std::size_t round_up(std::size_t n, std::size_t align) { return (n + align - 1) / align * align; }

}  // namespace

// ---- HandlerContext ----

void HandlerContext::destroy(HandlerContext* ctx) noexcept {
  switch (ctx->holds_) {
    case Holds::owned:
      ctx->handler_->~HandlerBase();  // virtual: the whole handler
      break;
    case Holds::shared: {
      using Shared = std::shared_ptr<HandlerBase>;
      static_assert(sizeof(HandlerContext) % alignof(Shared) == 0);
      std::launder(reinterpret_cast<Shared*>(ctx + 1))->~Shared();
      break;
    }
    case Holds::borrowed:
      break;
  }
  bool in_block = ctx->pipeline_->in_block(ctx);
  ctx->~HandlerContext();
  if (!in_block) ::operator delete(ctx);
}

std::string_view HandlerContext::name() const noexcept { return detail::HandlerNames::name_of(name_); }
EventLoop& HandlerContext::loop() const noexcept { return pipeline_->channel().loop(); }

template <class Fn>
void HandlerContext::invoke(Fn&& fn) noexcept {
  catching(fn, [this](const std::exception& e) { handler_threw(e); });
}

void HandlerContext::handler_threw(const std::exception& error) noexcept {
  try {
    handler_->error(*this, error);
  } catch (const std::exception& again) {
    // The error handler itself failed: nothing in this pipeline can cope.
    log().error("channel {}: handler '{}' threw while handling '{}': {}", channel().id(), name(), error.what(),
                again.what());
    channel().close_now();
  } catch (...) {
    log().error("channel {}: handler '{}' threw while handling '{}'", channel().id(), name(), error.what());
    channel().close_now();
  }
}

void HandlerContext::invoke_read(MessageRef message) noexcept {
  invoke([&] { handler_->read_erased(*this, message); });
}
void HandlerContext::invoke_write(MessageRef message) noexcept {
  invoke([&] { handler_->write_erased(*this, message); });
}

void HandlerContext::fire_channel_active() { pipeline_->channel_active_at(next_); }
void HandlerContext::fire_channel_inactive() { pipeline_->channel_inactive_at(next_); }
void HandlerContext::fire_read_erased(MessageRef message) { pipeline_->read_at(next_, message); }
void HandlerContext::fire_read_complete() { pipeline_->read_complete_at(next_); }
void HandlerContext::fire_writability_changed(bool writable) { pipeline_->writability_changed_at(next_, writable); }
void HandlerContext::fire_user_event(const UserEvent& event) { pipeline_->user_event_at(next_, event); }
void HandlerContext::fire_error(const std::exception& error) { pipeline_->error_at(next_, error); }

void HandlerContext::write_erased(MessageRef message) { pipeline_->write_at(prev_, message); }
void HandlerContext::flush() { pipeline_->flush_at(prev_); }
void HandlerContext::close() { pipeline_->close_at(prev_); }

// ---- Pipeline ----

Pipeline::Pipeline(Channel& channel) : channel_(&channel) {}

Pipeline::~Pipeline() {
  HandlerContext* c = first_;
  while (c != nullptr) {
    HandlerContext* next = c->next_;
    HandlerContext::destroy(c);
    c = next;
  }
  destroy_retired(true);
}

void Pipeline::give_block(void* bytes, std::size_t size) noexcept {
  // Aligned for any handler (placements are rounded from the block's start).
  auto address = reinterpret_cast<std::uintptr_t>(bytes);
  std::size_t skip = round_up(address, alignof(std::max_align_t)) - address;
  if (bytes == nullptr || size <= skip) return;
  block_ = static_cast<char*>(bytes) + skip;
  block_size_ = static_cast<std::uint32_t>(size - skip);
}

HandlerContext* Pipeline::find(std::string_view name) const noexcept {
  for (HandlerContext* c = first_; c != nullptr; c = c->next_) {
    if (c->name() == name) return c;
  }
  return nullptr;
}

HandlerContext& Pipeline::existing(std::string_view name) const {
  HandlerContext* c = find(name);
  if (c == nullptr) throw std::invalid_argument("Pipeline: no handler named '" + std::string(name) + "'");
  return *c;
}

Pipeline::Placement Pipeline::make_room(std::string_view name, std::size_t size, std::size_t align,
                                        const HandlerContext* replacing) {
  // Part of the contract since names were stored as C strings.
  if (name.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("Pipeline: a handler name may not hold a NUL character");
  }
  if (HandlerContext* same = find(name); same != nullptr && same != replacing) {
    throw std::invalid_argument("Pipeline: duplicate handler name '" + std::string(name) + "'");
  }
  if (align > alignof(std::max_align_t)) throw std::invalid_argument("Pipeline: an over-aligned handler");
  std::size_t object_offset = round_up(sizeof(HandlerContext), align);
  std::size_t start = round_up(block_used_, std::max(align, alignof(HandlerContext)));
  std::size_t end = start + object_offset + size;
  // Past 64 KiB (never in a block) a start is only a lower bound.
  auto start16 = static_cast<std::uint16_t>(std::min<std::size_t>(start, UINT16_MAX));
  Placement place{nullptr, nullptr, detail::HandlerNames::intern(name), start16};
  if (end <= block_size_) {
    place.memory = block_ + start;
  } else {
    place.memory = ::operator new(object_offset + size);
  }
  place.object = static_cast<char*>(place.memory) + object_offset;
  block_used_ = static_cast<std::uint32_t>(std::min<std::size_t>(end, UINT32_MAX));
  return place;
}

void Pipeline::give_back(const Placement& place) noexcept {
  // Room in the block stays used: a constructor that throws is rare.
  if (!in_block(place.memory)) ::operator delete(place.memory);
}

HandlerContext* Pipeline::init(const Placement& place, HandlerBase& handler, HandlerContext::Holds holds) noexcept {
  return new (place.memory) HandlerContext(*this, handler, place.name, holds, place.start);
}

HandlerContext& Pipeline::place_shared(std::string_view name, std::shared_ptr<HandlerBase> handler,
                                       const HandlerContext* replacing) {
  if (!handler) throw std::invalid_argument("Pipeline: null handler '" + std::string(name) + "'");
  using Shared = std::shared_ptr<HandlerBase>;
  Placement place = make_room(name, sizeof(Shared), alignof(Shared), replacing);
  HandlerBase& ref = *handler;
  new (place.object) Shared(std::move(handler));
  return *init(place, ref, HandlerContext::Holds::shared);
}

HandlerContext& Pipeline::place_borrowed(std::string_view name, HandlerBase& handler) {
  Placement place = make_room(name, 0, alignof(HandlerContext));
  return *init(place, handler, HandlerContext::Holds::borrowed);
}

void Pipeline::link_after(HandlerContext* prev, HandlerContext* ctx) {
  channel_->loop().assert_in_loop_thread("a pipeline change");
  ctx->prev_ = prev;
  ctx->next_ = slot_after(prev);
  slot_before(ctx->next_) = ctx;
  slot_after(prev) = ctx;
  // Validate first: a handler the pipeline rejects is never told it was
  // added (it may have started timers that would outlive its context).
  if (channel_->is_active()) {
    try {
      validate();
    } catch (...) {
      unlink(ctx);
      HandlerContext::destroy(ctx);
      throw;
    }
  }
  ctx->handler_->handler_added(*ctx);
}

void Pipeline::unlink(HandlerContext* ctx) {
  // The context keeps its own links so a callback still running in it can
  // pass its event on.
  slot_after(ctx->prev_) = ctx->next_;
  slot_before(ctx->next_) = ctx->prev_;
}

void Pipeline::retire(HandlerContext* ctx) {
  if (!retired_) retired_ = std::make_unique<std::vector<HandlerContext*>>();
  retired_->push_back(ctx);
  // An emplaced handler lives as long as its channel (see remove()), unless
  // it was released.
  if (ctx->holds_ == HandlerContext::Holds::owned && !ctx->released_) return;
  // A shared one's context goes at the top of a later turn, when no callback
  // of it can be running; or with the channel, if that comes first.
  if (auto keep = channel_->weak_from_this().lock()) {
    channel_->loop().post([keep] { keep->pipeline().destroy_retired(false); });
  }
}

void Pipeline::destroy_retired(bool with_owned) noexcept {
  if (!retired_) return;
  auto kept = std::partition(retired_->begin(), retired_->end(), [with_owned](HandlerContext* c) {
    return !with_owned && c->holds_ == HandlerContext::Holds::owned && !c->released_;
  });
  std::uint32_t lowest = UINT32_MAX;  // where the first destroyed placement began
  for (auto it = kept; it != retired_->end(); ++it) {
    lowest = std::min<std::uint32_t>(lowest, (*it)->start_);
    HandlerContext::destroy(*it);
  }
  retired_->erase(kept, retired_->end());
  if (retired_->empty()) retired_.reset();  // most channels remove once, at an upgrade
  if (lowest != UINT32_MAX && !with_owned) reclaim_block_from(lowest);
}

void Pipeline::reclaim_block_from(std::uint32_t from) noexcept {
  // Placements go from the front in order, so everything placed before
  // `from` ends before it; a context placed at or after it keeps the room.
  auto at_or_after = [from](const HandlerContext* c) { return c->start_ >= from; };
  for (const HandlerContext* c = first_; c != nullptr; c = c->next_) {
    if (at_or_after(c)) return;
  }
  if (retired_ && std::any_of(retired_->begin(), retired_->end(), at_or_after)) return;
  block_used_ = std::min(block_used_, from);
}

Pipeline& Pipeline::add_last(std::string_view name, std::shared_ptr<HandlerBase> handler) {
  link_after(last_, &place_shared(name, std::move(handler)));
  return *this;
}
Pipeline& Pipeline::add_last_borrowed(std::string_view name, HandlerBase& handler) {
  link_after(last_, &place_borrowed(name, handler));
  return *this;
}
Pipeline& Pipeline::add_first(std::string_view name, std::shared_ptr<HandlerBase> handler) {
  link_after(nullptr, &place_shared(name, std::move(handler)));
  return *this;
}
Pipeline& Pipeline::add_before(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler) {
  HandlerContext& b = existing(base);
  link_after(b.prev_, &place_shared(name, std::move(handler)));
  return *this;
}
Pipeline& Pipeline::add_after(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler) {
  HandlerContext& b = existing(base);
  link_after(&b, &place_shared(name, std::move(handler)));
  return *this;
}

bool Pipeline::remove(std::string_view name) { return take_out(name, false); }
bool Pipeline::release(std::string_view name) { return take_out(name, true); }

bool Pipeline::take_out(std::string_view name, bool released) {
  channel_->loop().assert_in_loop_thread("a pipeline change");
  HandlerContext* ctx = find(name);
  if (ctx == nullptr) return false;
  unlink(ctx);
  ctx->handler_->handler_removed(*ctx);
  ctx->released_ = released;
  retire(ctx);
  return true;
}

void Pipeline::replace(std::string_view name, std::string_view new_name, std::shared_ptr<HandlerBase> handler) {
  HandlerContext& old = existing(name);
  swap_in(old, &place_shared(new_name, std::move(handler), &old));
}

void Pipeline::swap_in(HandlerContext& old_ctx, HandlerContext* ctx) {
  channel_->loop().assert_in_loop_thread("a pipeline change");
  HandlerContext* prev = old_ctx.prev_;
  HandlerContext* next = old_ctx.next_;
  ctx->prev_ = prev;
  ctx->next_ = next;
  slot_after(prev) = ctx;
  slot_before(next) = ctx;
  old_ctx.next_ = ctx;  // the old context keeps its links (see unlink)
  if (channel_->is_active()) {
    try {
      validate();
    } catch (...) {
      // Undo: the old handler goes back as if nothing happened.
      slot_after(prev) = &old_ctx;
      slot_before(next) = &old_ctx;
      old_ctx.next_ = next;
      HandlerContext::destroy(ctx);
      throw;
    }
  }
  ctx->handler_->handler_added(*ctx);
  old_ctx.handler_->handler_removed(old_ctx);
  retire(&old_ctx);
}

HandlerBase* Pipeline::get(std::string_view name) const noexcept {
  HandlerContext* c = find(name);
  return c == nullptr ? nullptr : c->handler_;
}

HandlerContext* Pipeline::context(std::string_view name) const noexcept { return find(name); }

std::vector<std::string> Pipeline::names() const {
  std::vector<std::string> out;
  for (HandlerContext* c = first_; c != nullptr; c = c->next_) out.emplace_back(c->name());
  return out;
}

void Pipeline::validate() const {
  // Inbound: the socket produces Buffers; each handler must take what the
  // one before it produces.
  const std::type_info* wire = channel_->transport_message_type();
  const std::type_info* current = wire;
  std::string from = "the socket";
  for (HandlerContext* c = first_; c != nullptr; c = c->next_) {
    const std::type_info* in = c->handler_->inbound_in();
    if (in == nullptr) continue;
    if (current != nullptr && *current != *in) {
      throw PipelineTypeError("pipeline: " + quoted(c->name()) + " reads " + type_name(*in) + " but " + from +
                              " produces " + type_name(*current));
    }
    current = c->handler_->inbound_out();
    from = quoted(c->name());
  }
  // Outbound: walking from the application towards the socket.
  current = nullptr;
  from = "the application";
  for (HandlerContext* c = last_; c != nullptr; c = c->prev_) {
    const std::type_info* in = c->handler_->outbound_in();
    if (in == nullptr) continue;
    if (current != nullptr && *current != *in) {
      throw PipelineTypeError("pipeline: " + quoted(c->name()) + " writes " + type_name(*in) + " but " + from +
                              " sends it " + type_name(*current));
    }
    current = c->handler_->outbound_out();
    from = quoted(c->name());
  }
  if (current != nullptr && wire != nullptr && *current != *wire) {
    throw PipelineTypeError("pipeline: " + from + " sends " + describe(current) + " to the socket, which takes " +
                            describe(wire) + " (add an encoder)");
  }
}

// ---- passing events on ----

void Pipeline::fire_channel_active() { channel_active_at(first_); }
void Pipeline::fire_channel_inactive() { channel_inactive_at(first_); }
void Pipeline::fire_read(MessageRef message) { read_at(first_, message); }
void Pipeline::fire_read_complete() { read_complete_at(first_); }
void Pipeline::fire_writability_changed(bool writable) { writability_changed_at(first_, writable); }
void Pipeline::fire_user_event(const UserEvent& event) { user_event_at(first_, event); }
void Pipeline::fire_error(const std::exception& error) { error_at(first_, error); }
void Pipeline::write(MessageRef message) { write_at(last_, message); }
void Pipeline::flush() { flush_at(last_); }
void Pipeline::close() { close_at(last_); }

// Every hop runs one of these: inline, each is a test and a jump, to the
// context's handler or to the channel's end (out of line below). Left to
// the compiler, the ends' exception handling was inlined into them and each
// hop built a call frame: tools/profile read 4,886 and 6,211 instructions
// per request (pipelined, --depth 1); like this, 4,865 and 6,185 (with head
// and tail contexts, 4,879 and 6,198).
//
// Inbound. Past the last context, only a message, a user event and an
// error mean anything to the channel.
inline void Pipeline::channel_active_at(HandlerContext* ctx) {
  if (ctx != nullptr) ctx->invoke([ctx] { ctx->handler_->channel_active(*ctx); });
}
inline void Pipeline::channel_inactive_at(HandlerContext* ctx) {
  if (ctx != nullptr) ctx->invoke([ctx] { ctx->handler_->channel_inactive(*ctx); });
}
inline void Pipeline::read_at(HandlerContext* ctx, MessageRef message) {
  if (ctx != nullptr) {
    ctx->invoke_read(message);
  } else {
    read_at_tail(message);
  }
}
inline void Pipeline::read_complete_at(HandlerContext* ctx) {
  if (ctx != nullptr) ctx->invoke([ctx] { ctx->handler_->read_complete(*ctx); });
}
inline void Pipeline::writability_changed_at(HandlerContext* ctx, bool writable) {
  if (ctx != nullptr) ctx->invoke([ctx, writable] { ctx->handler_->writability_changed(*ctx, writable); });
}
inline void Pipeline::user_event_at(HandlerContext* ctx, const UserEvent& event) {
  if (ctx != nullptr) {
    ctx->invoke([ctx, &event] { ctx->handler_->user_event(*ctx, event); });
  } else {
    user_event_at_tail(event);
  }
}
void Pipeline::error_at(HandlerContext* ctx, const std::exception& error) noexcept {
  // Not through invoke: an error() that throws would be handed to itself.
  try {
    if (ctx == nullptr) {
      channel_->unhandled_error(error);
    } else {
      ctx->handler_->error(*ctx, error);
    }
  } catch (const std::exception& again) {
    std::string_view who = ctx != nullptr ? ctx->name() : "tail";
    log().error("channel {}: handler '{}' threw in error(): {}", channel_->id(), who, again.what());
    channel_->close_now();
  } catch (...) {
    channel_->close_now();
  }
}

// Outbound: past the first context, the socket.
inline void Pipeline::write_at(HandlerContext* ctx, MessageRef message) {
  if (ctx != nullptr) {
    ctx->invoke_write(message);
  } else {
    write_at_head(message);
  }
}
inline void Pipeline::flush_at(HandlerContext* ctx) {
  if (ctx != nullptr) {
    ctx->invoke([ctx] { ctx->handler_->flush(*ctx); });
  } else {
    flush_at_head();
  }
}
inline void Pipeline::close_at(HandlerContext* ctx) {
  if (ctx != nullptr) {
    ctx->invoke([ctx] { ctx->handler_->close(*ctx); });
  } else {
    close_at_head();
  }
}

// The ends, kept out of line (see above).
template <class Fn>
void Pipeline::at_tail(Fn&& fn) noexcept {
  catching(fn, [this](const std::exception& e) { error_at(nullptr, e); });
}
template <class Fn>
void Pipeline::at_head(Fn&& fn) noexcept {
  catching(fn, [this](const std::exception& e) { error_at(first_, e); });
}

[[gnu::noinline]] void Pipeline::read_at_tail(MessageRef message) noexcept {
  at_tail([&] { channel_->inbound_unhandled(message); });
}
[[gnu::noinline]] void Pipeline::user_event_at_tail(const UserEvent& event) noexcept {
  at_tail([&] { channel_->unhandled_user_event(event); });
}
[[gnu::noinline]] void Pipeline::write_at_head(MessageRef message) noexcept {
  at_head([&] { channel_->outbound_enqueue(message); });
}
[[gnu::noinline]] void Pipeline::flush_at_head() noexcept {
  at_head([this] { channel_->outbound_flush(); });
}
[[gnu::noinline]] void Pipeline::close_at_head() noexcept {
  at_head([this] { channel_->outbound_close(); });
}

}  // namespace sluice

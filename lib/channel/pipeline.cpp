#include "sluice/channel/pipeline.hpp"

#include <new>

#include "sluice/channel/channel.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {

// The head turns outbound operations into socket operations.
class HeadHandler final : public HandlerBase {
 public:
  void write_erased(HandlerContext& ctx, MessageRef message) override { ctx.channel().outbound_enqueue(message); }
  void flush(HandlerContext& ctx) override { ctx.channel().outbound_flush(); }
  void close(HandlerContext& ctx) override { ctx.channel().outbound_close(); }
};

// The tail is where inbound events nobody consumed end up.
class TailHandler final : public HandlerBase {
 public:
  void channel_active(HandlerContext&) override {}
  void channel_inactive(HandlerContext&) override {}
  void read_complete(HandlerContext&) override {}
  void writability_changed(HandlerContext&, bool) override {}
  void read_erased(HandlerContext& ctx, MessageRef message) override { ctx.channel().inbound_unhandled(message); }
  void user_event(HandlerContext& ctx, const UserEvent& event) override { ctx.channel().unhandled_user_event(event); }
  void error(HandlerContext& ctx, const std::exception& error) override { ctx.channel().unhandled_error(error); }
};

std::string describe(const std::type_info* type) { return type == nullptr ? "anything" : type_name(*type); }

}  // namespace

// ---- HandlerContext ----

HandlerContext* HandlerContext::make(Pipeline& pipeline, std::string_view name, std::shared_ptr<HandlerBase> handler) {
  // NUL ends the stored name: one inside it would cut the name short.
  if (name.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("Pipeline: a handler name may not hold a NUL character");
  }
  void* memory = ::operator new(sizeof(HandlerContext) + name.size() + 1);
  auto* ctx = new (memory) HandlerContext(pipeline, std::move(handler));
  char* stored = reinterpret_cast<char*>(ctx + 1);
  name.copy(stored, name.size());
  stored[name.size()] = '\0';
  return ctx;
}

std::string_view HandlerContext::name() const noexcept {
  if (this == &pipeline_->head_) return "head";
  if (this == &pipeline_->tail_) return "tail";
  return reinterpret_cast<const char*>(this + 1);
}

Channel& HandlerContext::channel() const noexcept { return pipeline_->channel(); }
EventLoop& HandlerContext::loop() const noexcept { return pipeline_->channel().loop(); }

template <class Fn>
void HandlerContext::invoke(Fn&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    handler_threw(e);
  } catch (...) {
    handler_threw(std::runtime_error("a handler threw a non-standard exception"));
  }
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

void HandlerContext::fire_read_erased(MessageRef message) { next_->invoke_read(message); }
void HandlerContext::fire_channel_active() {
  HandlerContext* n = next_;
  n->invoke([n] { n->handler_->channel_active(*n); });
}
void HandlerContext::fire_channel_inactive() {
  HandlerContext* n = next_;
  n->invoke([n] { n->handler_->channel_inactive(*n); });
}
void HandlerContext::fire_read_complete() {
  HandlerContext* n = next_;
  n->invoke([n] { n->handler_->read_complete(*n); });
}
void HandlerContext::fire_writability_changed(bool writable) {
  HandlerContext* n = next_;
  n->invoke([n, writable] { n->handler_->writability_changed(*n, writable); });
}
void HandlerContext::fire_user_event(const UserEvent& event) {
  HandlerContext* n = next_;
  n->invoke([n, &event] { n->handler_->user_event(*n, event); });
}
void HandlerContext::fire_error(const std::exception& error) {
  HandlerContext* n = next_;
  try {
    n->handler_->error(*n, error);
  } catch (const std::exception& again) {
    log().error("channel {}: handler '{}' threw in error(): {}", channel().id(), n->name(), again.what());
    channel().close_now();
  } catch (...) {
    channel().close_now();
  }
}

void HandlerContext::write_erased(MessageRef message) { prev_->invoke_write(message); }
void HandlerContext::flush() {
  HandlerContext* p = prev_;
  p->invoke([p] { p->handler_->flush(*p); });
}
void HandlerContext::close() {
  HandlerContext* p = prev_;
  p->invoke([p] { p->handler_->close(*p); });
}

// ---- Pipeline ----

namespace {
// Head and tail keep no state: one instance serves every pipeline, which
// saves two allocations per connection.
template <class H>
const std::shared_ptr<HandlerBase>& shared_stateless() {
  static const std::shared_ptr<HandlerBase> instance = std::make_shared<H>();
  return instance;
}
}  // namespace

Pipeline::Pipeline(Channel& channel)
    : channel_(&channel), head_(*this, shared_stateless<HeadHandler>()), tail_(*this, shared_stateless<TailHandler>()) {
  head_.next_ = &tail_;
  tail_.prev_ = &head_;
}

Pipeline::~Pipeline() {
  HandlerContext* c = head_.next_;
  while (c != &tail_) {
    HandlerContext* next = c->next_;
    delete c;
    c = next;
  }
}

HandlerContext* Pipeline::find(std::string_view name) const noexcept {
  for (HandlerContext* c = head_.next_; c != &tail_; c = c->next_) {
    if (c->name() == name) return c;
  }
  return nullptr;
}

HandlerContext* Pipeline::link_after(HandlerContext* prev, std::string_view name,
                                     std::shared_ptr<HandlerBase> handler) {
  if (!handler) throw std::invalid_argument("Pipeline: null handler '" + std::string(name) + "'");
  if (find(name) != nullptr) {
    throw std::invalid_argument("Pipeline: duplicate handler name '" + std::string(name) + "'");
  }
  auto* ctx = HandlerContext::make(*this, name, std::move(handler));
  ctx->prev_ = prev;
  ctx->next_ = prev->next_;
  prev->next_->prev_ = ctx;
  prev->next_ = ctx;
  // Validate first: a handler the pipeline rejects is never told it was
  // added (it may have started timers that would outlive its context).
  validate_if_active(ctx);
  ctx->handler_->handler_added(*ctx);
  return ctx;
}

void Pipeline::validate_if_active(HandlerContext* added) {
  if (!channel_->is_active()) return;
  try {
    validate();
  } catch (...) {
    unlink(added);
    delete added;
    throw;
  }
}

void Pipeline::unlink(HandlerContext* ctx) {
  // The context keeps its own links so a callback still running in it can
  // pass its event on.
  ctx->prev_->next_ = ctx->next_;
  ctx->next_->prev_ = ctx->prev_;
}

Pipeline& Pipeline::add_last(std::string_view name, std::shared_ptr<HandlerBase> handler) {
  link_after(tail_.prev_, name, std::move(handler));
  return *this;
}
Pipeline& Pipeline::add_first(std::string_view name, std::shared_ptr<HandlerBase> handler) {
  link_after(&head_, name, std::move(handler));
  return *this;
}
Pipeline& Pipeline::add_before(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler) {
  HandlerContext* b = find(base);
  if (b == nullptr) throw std::invalid_argument("Pipeline: no handler named '" + std::string(base) + "'");
  link_after(b->prev_, name, std::move(handler));
  return *this;
}
Pipeline& Pipeline::add_after(std::string_view base, std::string_view name, std::shared_ptr<HandlerBase> handler) {
  HandlerContext* b = find(base);
  if (b == nullptr) throw std::invalid_argument("Pipeline: no handler named '" + std::string(base) + "'");
  link_after(b, name, std::move(handler));
  return *this;
}

std::shared_ptr<HandlerBase> Pipeline::remove(std::string_view name) {
  HandlerContext* ctx = find(name);
  if (ctx == nullptr) return nullptr;
  unlink(ctx);
  std::shared_ptr<HandlerBase> handler = ctx->handler_;
  handler->handler_removed(*ctx);
  // The handler may be running right now: free its context on a later turn.
  channel_->loop().post([owned = std::unique_ptr<HandlerContext>(ctx)] {});
  return handler;
}

std::shared_ptr<HandlerBase> Pipeline::replace(std::string_view name, std::string_view new_name,
                                               std::shared_ptr<HandlerBase> handler) {
  HandlerContext* old_ctx = find(name);
  if (old_ctx == nullptr) throw std::invalid_argument("Pipeline: no handler named '" + std::string(name) + "'");
  if (!handler) throw std::invalid_argument("Pipeline: null handler '" + std::string(new_name) + "'");
  HandlerContext* same_name = find(new_name);
  if (same_name != nullptr && same_name != old_ctx) {
    throw std::invalid_argument("Pipeline: duplicate handler name '" + std::string(new_name) + "'");
  }
  // The new handler takes the old one's place before the old one leaves, so
  // what the old one passes on while being removed (a decoder's held-back
  // bytes) reaches its successor, as in Netty.
  auto* ctx = HandlerContext::make(*this, new_name, std::move(handler));
  HandlerContext* prev = old_ctx->prev_;
  HandlerContext* next = old_ctx->next_;
  ctx->prev_ = prev;
  ctx->next_ = next;
  prev->next_ = ctx;
  next->prev_ = ctx;
  old_ctx->next_ = ctx;  // the old context keeps its links (see unlink)
  if (channel_->is_active()) {
    try {
      validate();
    } catch (...) {
      // Undo: the old handler goes back as if nothing happened.
      prev->next_ = old_ctx;
      next->prev_ = old_ctx;
      old_ctx->next_ = next;
      delete ctx;
      throw;
    }
  }
  ctx->handler_->handler_added(*ctx);
  std::shared_ptr<HandlerBase> old = old_ctx->handler_;
  old->handler_removed(*old_ctx);
  // The old handler may be running right now: free its context on a later turn.
  channel_->loop().post([owned = std::unique_ptr<HandlerContext>(old_ctx)] {});
  return old;
}

HandlerBase* Pipeline::get(std::string_view name) const noexcept {
  HandlerContext* c = find(name);
  return c == nullptr ? nullptr : c->handler_.get();
}

HandlerContext* Pipeline::context(std::string_view name) const noexcept { return find(name); }

std::vector<std::string> Pipeline::names() const {
  std::vector<std::string> out;
  for (HandlerContext* c = head_.next_; c != &tail_; c = c->next_) out.emplace_back(c->name());
  return out;
}

void Pipeline::validate() const {
  // Inbound: the socket produces Buffers; each handler must take what the
  // one before it produces.
  const std::type_info* current = channel_->accepts_any_message() ? nullptr : &typeid(Buffer);
  std::string from = "the socket";
  for (HandlerContext* c = head_.next_; c != &tail_; c = c->next_) {
    const std::type_info* in = c->handler_->inbound_in();
    if (in == nullptr) continue;
    if (current != nullptr && *current != *in) {
      throw PipelineTypeError("pipeline: '" + std::string(c->name()) + "' reads " + type_name(*in) + " but " + from +
                              " produces " + type_name(*current));
    }
    current = c->handler_->inbound_out();
    from = "'" + std::string(c->name()) + "'";
  }
  // Outbound: walking from the application towards the socket.
  current = nullptr;
  from = "the application";
  for (HandlerContext* c = tail_.prev_; c != &head_; c = c->prev_) {
    const std::type_info* in = c->handler_->outbound_in();
    if (in == nullptr) continue;
    if (current != nullptr && *current != *in) {
      throw PipelineTypeError("pipeline: '" + std::string(c->name()) + "' writes " + type_name(*in) + " but " + from +
                              " sends it " + type_name(*current));
    }
    current = c->handler_->outbound_out();
    from = "'" + std::string(c->name()) + "'";
  }
  if (current != nullptr && *current != typeid(Buffer) && !channel_->accepts_any_message()) {
    throw PipelineTypeError("pipeline: " + from + " sends " + describe(current) +
                            " to the socket, which takes Buffer (add an encoder)");
  }
}

void Pipeline::fire_channel_active() { head_.fire_channel_active(); }
void Pipeline::fire_channel_inactive() { head_.fire_channel_inactive(); }
void Pipeline::fire_read(MessageRef message) { head_.fire_read_erased(message); }
void Pipeline::fire_read_complete() { head_.fire_read_complete(); }
void Pipeline::fire_writability_changed(bool writable) { head_.fire_writability_changed(writable); }
void Pipeline::fire_user_event(const UserEvent& event) { head_.fire_user_event(event); }
void Pipeline::fire_error(const std::exception& error) { head_.fire_error(error); }
void Pipeline::write(MessageRef message) { tail_.write_erased(message); }
void Pipeline::flush() { tail_.flush(); }
void Pipeline::close() { tail_.close(); }

}  // namespace sluice

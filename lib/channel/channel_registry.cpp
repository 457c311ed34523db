#include "sluice/channel/channel_registry.hpp"

#include "sluice/channel/channel.hpp"
#include "sluice/core/log.hpp"

#include <algorithm>

namespace sluice {

namespace {
// A connection holding less than this is never paused for memory: pausing
// it would save little and stall a client that does nothing wrong.
constexpr std::size_t kMinPausedHolding = 16 * 1024;
}  // namespace

ChannelRegistry::ChannelRegistry(EventLoop& loop) : loop_(&loop) {
  loop.memory().on_level_change([this](MemoryBudget::Level level) { on_memory_level(level); });
}

ChannelRegistry::~ChannelRegistry() = default;

void ChannelRegistry::on_memory_level(MemoryBudget::Level level) {
  if (level != MemoryBudget::Level::normal) {
    pause_heaviest();
    return;
  }
  for (auto& c : channels_) {
    if (c->paused_for_memory()) c->set_paused_for_memory(false);
  }
}

void ChannelRegistry::pause_heaviest() {
  if (channels_.empty()) return;
  std::size_t total = 0;
  for (auto& c : channels_) total += c->held_bytes();
  std::size_t threshold = std::max(total / channels_.size(), kMinPausedHolding);
  loop_->memory().set_pause_threshold(threshold);  // for channels that get there later
  for (auto& c : channels_) {
    if (!c->paused_for_memory() && c->held_bytes() >= threshold) c->set_paused_for_memory(true);
  }
}

std::size_t ChannelRegistry::trim() noexcept {
  // Channels that grew heavy since the level changed.
  if (loop_->memory().level() != MemoryBudget::Level::normal) {
    try {
      pause_heaviest();
    } catch (...) {
    }
  }
  return 0;
}

void ChannelRegistry::add(std::shared_ptr<Channel> channel) {
  loop_->assert_in_loop_thread("ChannelRegistry::add");
  // Each channel holds a descriptor: a loop never has 2^32 - 1 of them.
  channel->registry_index_ = static_cast<std::uint32_t>(channels_.size());
  channels_.push_back(std::move(channel));
  count_.store(channels_.size(), std::memory_order_relaxed);
}

void ChannelRegistry::remove(Channel& channel) noexcept {
  loop_->assert_in_loop_thread("ChannelRegistry::remove");
  std::size_t i = channel.registry_index_;
  if (i >= channels_.size() || channels_[i].get() != &channel) return;
  // Keep the channel alive until this call returns: the caller may be it.
  std::shared_ptr<Channel> keep = std::move(channels_[i]);
  if (i + 1 != channels_.size()) {
    channels_[i] = std::move(channels_.back());
    channels_[i]->registry_index_ = static_cast<std::uint32_t>(i);
  }
  channels_.pop_back();
  channel.registry_index_ = Channel::kNotRegistered;
  count_.store(channels_.size(), std::memory_order_relaxed);
  // Release on a later turn, after whatever callback we are in has unwound.
  loop_->post([k = std::move(keep)] {});
}

void ChannelRegistry::shutdown_gracefully() {
  for_each([](Channel& c) { c.shutdown_gracefully(); });
}

void ChannelRegistry::close_all(bool deadline_passed) noexcept {
  if (deadline_passed && !channels_.empty()) {
    std::size_t left = channels_.size();
    log().warn("graceful shutdown: {} connection{} still open on {} at the deadline: closing {} now", left,
               left == 1 ? "" : "s", loop_->name(), left == 1 ? "it" : "them");
  }
  auto snapshot = channels_;
  for (auto& c : snapshot) c->close_now();
}

}  // namespace sluice

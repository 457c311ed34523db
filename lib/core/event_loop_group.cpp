#include "sluice/core/event_loop_group.hpp"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "sluice/core/log.hpp"

namespace sluice {

EventLoopGroup::EventLoopGroup(Options options) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) cpus = 1;
  std::size_t n = options.loops != 0 ? options.loops : static_cast<std::size_t>(cpus);
  for (std::size_t i = 0; i < n; ++i) {
    EventLoop::Options lo;
    lo.name = options.name + "-" + std::to_string(i);
    lo.cpu = options.pin ? static_cast<int>(i % static_cast<std::size_t>(cpus)) : -1;
    loops_.push_back(std::make_unique<EventLoop>(lo));
  }
  for (auto& loop : loops_) loop->start();
}

EventLoopGroup::~EventLoopGroup() { shutdown_gracefully(0, 0); }

EventLoop& EventLoopGroup::next() noexcept {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

std::uint64_t EventLoopGroup::add_shutdown_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void EventLoopGroup::remove_shutdown_hook(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
}

std::size_t EventLoopGroup::open_count() const noexcept {
  std::size_t n = 0;
  for (const auto& loop : loops_) n += loop->open_count();
  return n;
}

void EventLoopGroup::shutdown_gracefully(std::uint64_t quiet_period_ms, std::uint64_t timeout_ms) {
  std::lock_guard<std::mutex> lock(shutdown_mutex_);
  if (shut_down_.load(std::memory_order_relaxed)) return;
  shut_down_.store(true, std::memory_order_release);

  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> hooks_lock(hooks_mutex_);
    for (auto& h : hooks_) hooks.push_back(std::move(h.second));
    hooks_.clear();
  }
  for (auto& hook : hooks) hook();

  for (auto& loop : loops_) {
    EventLoop* l = loop.get();
    l->post([l] { l->shutdown_services_gracefully(); });
  }

  // This runs on the caller's thread, outside every loop: a short poll is
  // simpler than a cross-loop completion protocol and costs nothing here.
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  auto quiet_since = clock::now();
  std::vector<std::uint64_t> last_tasks(loops_.size());
  while (clock::now() < deadline) {
    bool busy = open_count() != 0;
    for (std::size_t i = 0; i < loops_.size(); ++i) {
      auto tasks = loops_[i]->stats().tasks_run;
      if (tasks != last_tasks[i]) busy = true;
      last_tasks[i] = tasks;
    }
    if (busy) quiet_since = clock::now();
    if (clock::now() - quiet_since >= std::chrono::milliseconds(quiet_period_ms) && open_count() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // What is still open now is force-closed by each loop's stop(), and its
  // services say what they closed when it is because the deadline passed.
  bool deadline_passed = open_count() != 0 && timeout_ms != 0;
  for (auto& loop : loops_) loop->stop(deadline_passed);
}

}  // namespace sluice

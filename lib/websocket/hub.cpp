#include "sluice/websocket/hub.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "frame_header.hpp"
#include "hub_memberships.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "websocket_session.hpp"

namespace sluice::detail {

/// A topic with subscribers. Each loop's list is touched only by that loop;
/// which loops have any (`loops_with_members`) is kept under the hub's lock.
struct HubTopic {
  struct Member {
    WebSocketSession* session;
    std::uint32_t membership;  // index in the session's HubMemberships::topics
  };
  std::shared_ptr<Hub::Impl> hub;  // the topic is in the hub's table while it has members
  std::string name;
  std::vector<std::vector<Member>> members_by_loop;
  std::uint64_t loops_with_members = 0;  // under the hub's lock
  std::atomic<std::size_t> count{0};
};

}  // namespace sluice::detail

namespace sluice {

using detail::HubMembership;
using detail::HubMemberships;
using detail::HubTopic;
using detail::WebSocketSession;

struct Hub::Impl {
  std::vector<EventLoop*> loops;
  mutable std::mutex mutex;
  std::unordered_map<std::string_view, std::shared_ptr<HubTopic>> topics;  // keys view HubTopic::name

  std::size_t loop_index(EventLoop& loop) const {
    for (std::size_t i = 0; i < loops.size(); ++i) {
      if (loops[i] == &loop) return i;
    }
    throw std::invalid_argument("Hub: the connection is not on one of the hub's loops");
  }

  // A loop's list of a topic became empty: the loop no longer hears of it,
  // and a topic no loop hears of leaves the table. Loop thread.
  void loop_left(HubTopic& topic, std::size_t loop) {
    std::lock_guard lock(mutex);
    topic.loops_with_members &= ~(std::uint64_t{1} << loop);
    if (topic.loops_with_members != 0) return;
    auto it = topics.find(topic.name);
    if (it != topics.end() && it->second.get() == &topic) topics.erase(it);
  }
};

namespace {

// Removes a session's membership `index` from its topic and from the session.
void leave(WebSocketSession& session, std::size_t index) {
  HubMemberships& m = *session.memberships();
  HubMembership gone = std::move(m.topics[index]);
  HubTopic& topic = *gone.topic;
  auto& members = topic.members_by_loop[m.loop_index];
  // Swap-remove on both sides, mending the moved entries' cross indexes.
  members[gone.slot] = members.back();
  members.pop_back();
  if (gone.slot < members.size()) {
    const HubTopic::Member& moved = members[gone.slot];
    moved.session->memberships()->topics[moved.membership].slot = gone.slot;
  }
  if (index + 1 != m.topics.size()) {
    m.topics[index] = std::move(m.topics.back());
    HubMembership& moved = m.topics[index];
    moved.topic->members_by_loop[m.loop_index][moved.slot].membership = static_cast<std::uint32_t>(index);
  }
  m.topics.pop_back();
  topic.count.fetch_sub(1, std::memory_order_relaxed);
  if (members.empty()) topic.hub->loop_left(topic, m.loop_index);
}

}  // namespace

Hub::Hub(EventLoopGroup& group) : impl_(std::make_shared<Impl>()) {
  if (group.size() > 64) throw std::invalid_argument("Hub: at most 64 loops");
  for (std::size_t i = 0; i < group.size(); ++i) impl_->loops.push_back(&group.at(i));
}

Hub::~Hub() = default;

void Hub::subscribe(WebSocket& ws, std::string_view name) {
  auto& session = static_cast<WebSocketSession&>(ws);
  if (session.state() != WebSocketSession::State::open) return;
  std::size_t loop = impl_->loop_index(session.loop());
  auto& memberships = session.memberships();
  if (!memberships) {
    memberships = std::make_unique<HubMemberships>();
    memberships->loop_index = loop;
  }
  for (const HubMembership& m : memberships->topics) {
    if (m.topic->name == name) return;
  }
  std::shared_ptr<HubTopic> topic;
  {
    // Found (or made) and marked as heard on this loop in one step, so the
    // topic cannot leave the table in between.
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->topics.find(name);
    if (it == impl_->topics.end()) {
      topic = std::make_shared<HubTopic>();
      topic->hub = impl_;
      topic->name = std::string(name);
      topic->members_by_loop.resize(impl_->loops.size());
      impl_->topics.emplace(topic->name, topic);
    } else {
      topic = it->second;
    }
    topic->loops_with_members |= std::uint64_t{1} << loop;
  }
  auto& members = topic->members_by_loop[loop];
  members.push_back({&session, static_cast<std::uint32_t>(memberships->topics.size())});
  topic->count.fetch_add(1, std::memory_order_relaxed);
  memberships->topics.push_back({std::move(topic), static_cast<std::uint32_t>(members.size() - 1)});
}

bool Hub::unsubscribe(WebSocket& ws, std::string_view name) {
  auto& session = static_cast<WebSocketSession&>(ws);
  auto& memberships = session.memberships();
  if (!memberships) return false;
  for (std::size_t i = 0; i < memberships->topics.size(); ++i) {
    if (memberships->topics[i].topic->name == name) {
      leave(session, i);
      return true;
    }
  }
  return false;
}

std::size_t Hub::publish(std::string_view name, std::string_view message, WebSocketOpcode opcode) {
  std::shared_ptr<HubTopic> topic;
  std::uint64_t loops = 0;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->topics.find(name);
    if (it == impl_->topics.end()) return 0;
    topic = it->second;
    loops = topic->loops_with_members;
  }
  // Framed once, as a server frame (unmasked): the same bytes for everyone.
  char header[detail::kMaxFrameHeaderBytes];
  std::size_t n = detail::write_frame_header(header, opcode, true, false, message.size());
  Buffer frame = Buffer::shared_copy_of(std::string_view(header, n), message);
  for (std::size_t loop = 0; loop < impl_->loops.size(); ++loop) {
    if ((loops & (std::uint64_t{1} << loop)) == 0) continue;
    impl_->loops[loop]->post([topic, frame = frame.share(), loop] {
      auto& members = topic->members_by_loop[loop];
      // From the end: a recipient that fails (a slow consumer closed) is
      // swapped out for the last one, which has had its copy already.
      for (std::size_t k = members.size(); k-- > 0;) {
        if (k < members.size()) members[k].session->send_framed(frame);
      }
    });
  }
  return topic->count.load(std::memory_order_relaxed);
}

std::size_t Hub::subscriber_count(std::string_view name) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->topics.find(name);
  return it == impl_->topics.end() ? 0 : it->second->count.load(std::memory_order_relaxed);
}

}  // namespace sluice

namespace sluice::detail {

void leave_all(WebSocketSession& session) noexcept {
  auto& memberships = session.memberships();
  while (!memberships->topics.empty()) leave(session, memberships->topics.size() - 1);
  memberships.reset();
}

}  // namespace sluice::detail

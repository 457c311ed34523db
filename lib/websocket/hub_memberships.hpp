#pragma once
// Internal: what ties a WebSocket session to the hub topics it is in.

#include <cstdint>
#include <memory>
#include <vector>

namespace sluice::detail {

struct HubTopic;
class WebSocketSession;

/// One topic a session is in, and where the session sits in that topic's
/// list of subscribers on the session's loop.
struct HubMembership {
  std::shared_ptr<HubTopic> topic;
  std::uint32_t slot;
};

/// A session's topics (made by its first subscription). Loop thread.
struct HubMemberships {
  std::size_t loop_index = 0;
  std::vector<HubMembership> topics;
};

/// Takes the session out of every topic it is in. Loop thread.
void leave_all(WebSocketSession& session) noexcept;

}  // namespace sluice::detail

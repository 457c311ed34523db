// ws-bench's three measurements; each opens its connections, measures,
// prints its result line and returns (or fails the run).

#pragma once

#include "options.hpp"

namespace ws_bench {

// Closed-loop round trips on /ws/echo: messages/s and RTT.
void run_echo(const Options& options);

// Subscribers of /ws/push and a closed-loop publisher: deliveries/s and latency.
void run_broadcast(const Options& options);

// Idle connections on /ws/echo: the server's RSS per connection.
void run_idle(const Options& options);

}  // namespace ws_bench

#pragma once
// SIGINT/SIGTERM handling for the samples: block them before any loop
// thread starts (threads inherit the mask), then wait for one on main.

#include <pthread.h>

#include <csignal>

namespace sluice::cli {

/// Call first thing in main: the loops' threads will not take the signals.
inline sigset_t block_shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

/// Blocks until SIGINT or SIGTERM; returns which.
inline int wait_for_shutdown_signal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace sluice::cli

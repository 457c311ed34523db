// The loop's batch of reads and sends (lib/transport/io_batch.hpp): what
// channels flush in a turn goes to the kernel at the end of it, in one
// io_uring call for many channels, each channel's bytes whole and in order;
// the sockets one wait reports with input are read in one call. Run again
// with SLUICE_IO_URING=0 (tools/run-tests), where the batch is off and each
// socket reads and sends at once: the same bytes must arrive, and the batch
// makes no call.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../lib/transport/io_batch.hpp"
#include "echo/echo_pipeline.hpp"
#include "sluice/transport/tcp_channel.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;

namespace {

// `count` connections accepted as TcpChannels on one loop, their peers held
// by the test. `before_start(i)`: what peer i sends before the channels
// start, so that it waits in the socket when they are watched. `echo`: the
// channels answer what they read.
struct Connections {
  explicit Connections(std::size_t count, const std::function<std::string(std::size_t)>& before_start = nullptr,
                       bool echo = false) {
    std::uint16_t port = 0;
    int listener = sluice::test::listen_on_loopback(static_cast<int>(count), port);
    std::vector<int> fds;
    for (std::size_t i = 0; i < count; ++i) {
      peers.push_back(std::make_unique<BlockingClient>(port));
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      REQUIRE(fd >= 0);
      fds.push_back(fd);
    }
    ::close(listener);
    if (before_start) {
      for (std::size_t i = 0; i < count; ++i) peers[i]->send_all(before_start(i));
    }
    loop.start();
    // All in one task: the sockets are watched together, and the next wait
    // reports each one's input.
    loop.run_sync([&] {
      for (int fd : fds) {
        channels.push_back(TcpChannel::create(loop, fd, SocketAddress{}, std::make_shared<ChannelOptions>()));
        channels.back()->start([echo](Channel& c) {
          if (echo) c.pipeline().add_last("echo", std::make_shared<sluice::echo::EchoHandler>());
        });
      }
    });
  }
  ~Connections() {
    loop.run_sync([&] {
      for (auto& c : channels) c->close_now();
    });
    loop.stop();
  }

  struct Counts : detail::IoBatch::Counts {
    bool enabled = false;
  };
  // Read on the loop, after the turn that ran the last task (and its batch).
  Counts counts() {
    Counts out;
    loop.run_sync([&] {
      auto& batch = detail::IoBatch::of(loop);
      static_cast<detail::IoBatch::Counts&>(out) = batch.counts();
      out.enabled = batch.enabled();
    });
    return out;
  }

  EventLoop loop;
  std::vector<std::unique_ptr<BlockingClient>> peers;
  std::vector<std::shared_ptr<TcpChannel>> channels;
};

std::string text(std::size_t channel, std::size_t part) {
  return "channel " + std::to_string(channel) + " part " + std::to_string(part) + ";";
}

}  // namespace

TEST_CASE("IoBatch: twenty channels flushed in one turn are sent in one call, each its own bytes in order") {
  Connections net(20);
  Connections::Counts before = net.counts();
  net.loop.run_sync([&] {
    for (std::size_t i = 0; i < net.channels.size(); ++i) {
      net.channels[i]->write(Buffer::copy_of(text(i, 1)));
      net.channels[i]->flush();
      net.channels[i]->write(Buffer::copy_of(text(i, 2)));
      net.channels[i]->flush();
    }
  });
  for (std::size_t i = 0; i < net.peers.size(); ++i) {
    std::string expected = text(i, 1) + text(i, 2);
    CHECK(net.peers[i]->recv_exact(expected.size()) == expected);
  }
  Connections::Counts after = net.counts();
  if (after.enabled) {
    CHECK(after.sends - before.sends == 20);  // one per channel, both of its flushes in it
    CHECK(after.calls - before.calls == 1);
  } else {
    WARN("io_uring is off (SLUICE_IO_URING=0 or refused by the kernel): each flush sent at once");
    CHECK(after.calls == 0);
  }
}

TEST_CASE("IoBatch: more buffers than one send takes go in the rounds after, in order") {
  Connections net(1);
  Connections::Counts before = net.counts();
  std::string expected;
  net.loop.run_sync([&] {
    // A flush after each write: flushed buffers are never merged, so the
    // channel queues 100 of them, more than the 64 one send gathers.
    for (std::size_t part = 0; part < 100; ++part) {
      net.channels[0]->write(Buffer::copy_of(text(0, part)));
      net.channels[0]->flush();
      expected += text(0, part);
    }
  });
  CHECK(net.peers[0]->recv_exact(expected.size()) == expected);
  Connections::Counts after = net.counts();
  if (after.enabled) {
    CHECK(after.sends - before.sends == 2);
    CHECK(after.calls - before.calls == 2);
  }
}

TEST_CASE("IoBatch: a channel closed after its flush, in the same turn, sends nothing; the others send") {
  // Without the batch the flush has sent already: the bytes arrive, then the end.
  Connections net(3);
  Connections::Counts before = net.counts();
  net.loop.run_sync([&] {
    for (std::size_t i = 0; i < net.channels.size(); ++i) {
      net.channels[i]->write(Buffer::copy_of(text(i, 1)));
      net.channels[i]->flush();
    }
    net.channels[1]->close_now();  // an error would: what it queued is dropped
  });
  CHECK(net.peers[0]->recv_exact(text(0, 1).size()) == text(0, 1));
  CHECK(net.peers[2]->recv_exact(text(2, 1).size()) == text(2, 1));
  BlockingClient::Stream closed = net.peers[1]->read_to_end();
  CHECK(closed.bytes == (before.enabled ? std::string() : text(1, 1)));
  CHECK(closed.end == BlockingClient::End::eof);
  Connections::Counts after = net.counts();
  if (after.enabled) CHECK(after.sends - before.sends == 2);
}

TEST_CASE("IoBatch: what a full socket did not take goes once the peer reads, through the batch again") {
  Connections net(1);
  // More than loopback's socket buffers hold while the peer reads nothing.
  std::string big(8 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  net.loop.run_sync([&] {
    net.channels[0]->write(Buffer::copy_of(big));
    net.channels[0]->flush();
  });
  CHECK(net.peers[0]->recv_exact(big.size(), std::chrono::seconds(60)) == big);
  Connections::Counts after = net.counts();
  if (after.enabled) CHECK(after.sends >= 2);  // the first send could not take it all
}

TEST_CASE("IoBatch: twenty sockets one wait reports with input are read in one call, and answered in one") {
  Connections net(20, [](std::size_t i) { return text(i, 1); }, true);
  for (std::size_t i = 0; i < net.peers.size(); ++i) {
    CHECK(net.peers[i]->recv_exact(text(i, 1).size()) == text(i, 1));
  }
  Connections::Counts after = net.counts();
  if (after.enabled) {
    CHECK(after.reads == 20);
    CHECK(after.sends == 20);
    CHECK(after.calls == 2);
  } else {
    CHECK(after.calls == 0);
  }
}

TEST_CASE("IoBatch: input larger than a read slot is read on to the end, in order") {
  // Three sockets with more than a slot each, and one with a slot exactly.
  auto input = [](std::size_t i) {
    std::string bytes(i == 3 ? detail::IoBatch::kReadSlotBytes : 100 * 1024 + i, '.');
    for (std::size_t k = 0; k < bytes.size(); k += 997) bytes[k] = static_cast<char>('a' + (k / 997 + i) % 26);
    return bytes;
  };
  Connections net(4, input, true);
  for (std::size_t i = 0; i < net.peers.size(); ++i) {
    std::string expected = input(i);
    CHECK(net.peers[i]->recv_exact(expected.size()) == expected);
  }
  // Still read after a read that filled its slot: nothing was left behind.
  net.peers[3]->send_all("after");
  CHECK(net.peers[3]->recv_exact(5) == "after");
}

TEST_CASE("IoBatch: a peer that closed after sending is read to the end and its answer still goes") {
  Connections net(3, [](std::size_t i) { return text(i, 1); }, true);
  ::shutdown(net.peers[1]->fd(), SHUT_WR);
  for (std::size_t i = 0; i < net.peers.size(); ++i) {
    CHECK(net.peers[i]->recv_exact(text(i, 1).size()) == text(i, 1));
  }
  BlockingClient::Stream rest = net.peers[1]->read_to_end();
  CHECK(rest.bytes.empty());
  CHECK(rest.end == BlockingClient::End::eof);
}

// The loop's send batch (lib/transport/send_batch.hpp): what channels flush
// in a turn goes to the kernel at the end of it, in one io_uring call for
// many channels, each channel's bytes whole and in order. meson also runs
// this suite with SLUICE_IO_URING=0, where the batch is off and each flush
// sends at once: the same bytes must arrive, and the batch makes no call.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../lib/transport/send_batch.hpp"
#include "sluice/transport/tcp_channel.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;

namespace {

// `count` connections accepted as TcpChannels on one loop, their peers held
// by the test.
struct Connections {
  explicit Connections(std::size_t count) {
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
    loop.start();
    loop.run_sync([&] {
      for (int fd : fds) {
        channels.push_back(TcpChannel::create(loop, fd, SocketAddress{}, std::make_shared<ChannelOptions>()));
        channels.back()->start(nullptr);
      }
    });
  }
  ~Connections() {
    loop.run_sync([&] {
      for (auto& c : channels) c->close_now();
    });
    loop.stop();
  }

  struct Counts {
    bool enabled = false;
    std::uint64_t sends = 0;
    std::uint64_t calls = 0;
  };
  // Read on the loop, after the turn that ran the last task (and its batch).
  Counts counts() {
    Counts out;
    loop.run_sync([&] {
      auto& batch = detail::SendBatch::of(loop);
      out = Counts{batch.enabled(), batch.sends(), batch.calls()};
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

TEST_CASE("SendBatch: twenty channels flushed in one turn are sent in one call, each its own bytes in order") {
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

TEST_CASE("SendBatch: more buffers than one send takes go in the rounds after, in order") {
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

TEST_CASE("SendBatch: a channel closed after its flush, in the same turn, sends nothing; the others send") {
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

TEST_CASE("SendBatch: what a full socket did not take goes once the peer reads, through the batch again") {
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

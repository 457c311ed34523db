#include "sluice/channel/embedded_channel.hpp"

#include "sluice/channel/channel_registry.hpp"

namespace sluice {

class EmbeddedChannel::Impl final : public Channel {
 public:
  Impl(EventLoop& loop, ChannelOptions options, EmbeddedChannel& owner)
      : Channel(loop, std::make_shared<const ChannelOptions>(options)), owner_(&owner) {}

  void start(const std::function<void(Channel&)>& initializer) {
    ChannelRegistry::of(loop()).add(shared_from_this());
    if (initializer) initializer(*this);
    activate();
  }
  void feed(Buffer& bytes) { bytes_read(bytes); }
  void feed_eof() { peer_shutdown_output(); }
  void set_peer_reading(bool reading) {
    peer_reading_ = reading;
    if (reading) transport_flush();
  }
  void detach() noexcept { owner_ = nullptr; }

  bool is_closed() const noexcept { return closed(); }
  bool output_shut() const noexcept { return output_shut_; }

  void inbound_unhandled(MessageRef message) override {
    if (owner_ != nullptr) owner_->inbound_.push_back(message.type->take(message.object));
  }

 protected:
  void transport_start_reading() override {}
  void transport_stop_reading() override {}
  void transport_flush() override {
    if (!peer_reading_) return;
    std::size_t sent = 0;
    while (flushed_count_ > 0) {
      Buffer& b = outbound_.front();
      if (owner_ != nullptr) owner_->outbound_bytes_.append(b.view());
      sent += b.readable_bytes();
      outbound_.pop_front();
      --flushed_count_;
    }
    if (sent != 0) bytes_sent(sent);
  }
  void transport_shutdown_output() override { output_shut_ = true; }
  void transport_close() override { transport_closed(); }
  const std::type_info* transport_message_type() const noexcept override { return nullptr; }
  void outbound_other(MessageRef message) override {
    if (owner_ != nullptr) owner_->outbound_messages_.push_back(message.type->take(message.object));
  }

 private:
  EmbeddedChannel* owner_;
  bool peer_reading_ = true;
  bool output_shut_ = false;
};

EmbeddedChannel::EmbeddedChannel(const std::function<void(Channel&)>& initializer, ChannelOptions options) {
  EventLoop::Options lo;
  lo.name = "embedded";
  loop_ = std::make_unique<ManualLoop>(lo);
  channel_ = std::make_shared<Impl>(*loop_, options, *this);
  channel_->start(initializer);
  run_pending_tasks();
}

EmbeddedChannel::~EmbeddedChannel() {
  channel_->detach();
  channel_->close_now();
  channel_.reset();
  loop_.reset();  // runs what is left and closes the loop
}

Channel& EmbeddedChannel::channel() noexcept { return *channel_; }

void EmbeddedChannel::write_inbound(std::string_view bytes) {
  // Copy into scratch storage and lend it, as the read slab is lent. The
  // scratch keeps its capacity (allocation-counting tests feed many reads);
  // a nested call (a handler feeding more input) gets its own.
  std::string nested;
  std::string& scratch = reading_ ? nested : read_scratch_;
  scratch.assign(bytes);
  bool outer = !reading_;
  reading_ = true;
  Buffer borrowed = Buffer::borrow(scratch.data(), scratch.size());
  channel_->feed(borrowed);
  if (outer) reading_ = false;
  run_pending_tasks();
}

void EmbeddedChannel::shutdown_inbound() {
  channel_->feed_eof();
  run_pending_tasks();
}

std::string EmbeddedChannel::read_outbound_bytes() {
  std::string out;
  out.swap(outbound_bytes_);
  return out;
}

void EmbeddedChannel::set_peer_reading(bool reading) {
  channel_->set_peer_reading(reading);
  run_pending_tasks();
}

void EmbeddedChannel::run_pending_tasks() { loop_->run_once(); }

void EmbeddedChannel::advance_time(std::uint64_t ms) { loop_->advance_clock(ms); }

bool EmbeddedChannel::is_open() const noexcept { return !channel_->is_closed(); }
bool EmbeddedChannel::output_shutdown() const noexcept { return channel_->output_shut(); }

}  // namespace sluice

#pragma once
// A framing decoder on an EmbeddedChannel, fed reads, with a record of
// what it passed on: for the line and length-field targets.

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/byte_to_message_decoder.hpp"

namespace sluice::fuzz {

/// What a decoder did, in order: "frame:<bytes>" per frame, "error:<kind>"
/// per error; and "closed" if the channel closed.
using Events = std::vector<std::string>;

/// Sits after the decoder: records each frame and error. Handles the errors
/// (the decoder goes on after the bad frame) or passes them on (the
/// channel closes).
class FrameRecorder final : public InboundHandler<Buffer> {
 public:
  FrameRecorder(Events& events, bool handle_errors) : events_(&events), handle_errors_(handle_errors) {}

  void read(HandlerContext&, Buffer& frame) override { events_->push_back("frame:" + std::string(frame.view())); }
  void error(HandlerContext& ctx, const std::exception& error) override {
    const char* kind = dynamic_cast<const TooLongFrameError*>(&error) != nullptr ? "too long"
                       : dynamic_cast<const DecoderError*>(&error) != nullptr  ? "decoder"
                                                                               : "other";
    events_->push_back(std::string("error:") + kind);
    if (!handle_errors_) ctx.fire_error(error);
  }

 private:
  Events* events_;
  bool handle_errors_;
};

/// Feeds `reads` to a `Decoder` made with `options`. After a handled
/// error the decoder leaves the rest of that read for the next one (see
/// ByteToMessageDecoder::decode), so empty reads follow until nothing
/// more comes out: the same bytes then give the same events however they
/// were cut.
template <class Decoder>
Events decode_reads(const typename Decoder::Options& options, bool handle_errors,
                    const std::vector<std::string_view>& reads) {
  Events events;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline()
        .add_last("decoder", std::make_shared<Decoder>(options))
        .add_last("recorder", std::make_shared<FrameRecorder>(events, handle_errors));
  });
  for (std::string_view bytes : reads) {
    if (!ch.is_open()) break;
    ch.write_inbound(bytes);
  }
  for (;;) {
    if (!ch.is_open()) break;
    std::size_t held = ch.pipeline().get<Decoder>("decoder")->cumulated_bytes();
    std::size_t seen = events.size();
    if (held == 0) break;
    ch.write_inbound({});
    if (events.size() == seen && ch.pipeline().get<Decoder>("decoder")->cumulated_bytes() == held) break;
  }
  if (!ch.is_open()) events.push_back("closed");
  return events;
}

}  // namespace sluice::fuzz

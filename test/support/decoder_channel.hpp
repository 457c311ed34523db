#pragma once
// A socket-free pipeline for testing a framing decoder:
//   "<name>" (the decoder) -> "text" (StringDecoder) -> "errors" (ErrorSpy)
// so every frame comes out as an owned std::string.

#include <memory>
#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/byte_to_message_decoder.hpp"
#include "sluice/codec/string_codec.hpp"

namespace sluice::test {

/// Names the kind of the last error it saw ("TooLongFrameError",
/// "DecoderError", else the message); passes it on (so the channel closes)
/// unless told to handle it.
class ErrorSpy final : public HandlerBase {
 public:
  ErrorSpy(std::string& kind, bool handle) : kind_(&kind), handle_(handle) {}
  void error(HandlerContext& ctx, const std::exception& error) override {
    if (dynamic_cast<const TooLongFrameError*>(&error) != nullptr) {
      *kind_ = "TooLongFrameError";
    } else if (dynamic_cast<const DecoderError*>(&error) != nullptr) {
      *kind_ = "DecoderError";
    } else {
      *kind_ = error.what();
    }
    if (!handle_) ctx.fire_error(error);
  }

 private:
  std::string* kind_;
  bool handle_;
};

enum class OnError { close, handle };

template <class Decoder>
class DecoderChannel {
 public:
  DecoderChannel(std::string name, typename Decoder::Options options, OnError on_error)
      : name_(name), ch([this, name, options, on_error](Channel& c) {
          c.pipeline().add_last(name, std::make_shared<Decoder>(options));
          c.pipeline().add_last("text", std::make_shared<StringDecoder>());
          c.pipeline().add_last("errors", std::make_shared<ErrorSpy>(error, on_error == OnError::handle));
        }) {}

  std::vector<std::string> read_all() {
    std::vector<std::string> out;
    while (auto frame = ch.read_inbound<std::string>()) out.push_back(*frame);
    return out;
  }
  Decoder& decoder() { return *ch.pipeline().template get<Decoder>(name_); }

  std::string name_;
  std::string error;
  EmbeddedChannel ch;
};

}  // namespace sluice::test

#pragma once
// Base of every framing decoder: bytes in, messages out, with cumulation.

#include <stdexcept>

#include "sluice/channel/pipeline.hpp"
#include "sluice/core/buffer.hpp"

namespace sluice {

/// A decoder could not make sense of its input. The channel closes unless a
/// later handler handles the error.
class DecoderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A frame is longer than the decoder allows.
class TooLongFrameError : public DecoderError {
 public:
  using DecoderError::DecoderError;
};

/// Turns a byte stream into messages of type `Out` (Netty's ByteToMessageDecoder).
///
/// Decoding happens in place, on the buffer the read produced (the loop's read
/// slab): only an unfinished frame's tail is copied, into a per-channel
/// cumulation buffer taken from the loop's pool and given back as soon as it
/// empties. An idle connection holds no buffer. Loop thread only; one
/// instance per channel.
template <class Out>
class ByteToMessageDecoder : public InboundHandler<Buffer, Out> {
 public:
  /// Decodes at most one message from the front of `in`, consuming its bytes
  /// and passing it on with ctx.fire_read(...). Returns false (consuming
  /// nothing) when `in` does not hold a whole message yet. May throw
  /// DecoderError, after consuming the bad bytes, so that decoding can go on
  /// with the next frame when a later handler handles the error; bytes after
  /// the bad frame are decoded on the next read.
  virtual bool decode(HandlerContext& ctx, Buffer& in) = 0;

  void read(HandlerContext& ctx, Buffer& in) final;
  void channel_inactive(HandlerContext& ctx) override {
    // Closed by a handler downstream while decoding: the message it is
    // handling borrows the cumulation, so read() releases it afterwards.
    if (!decoding_) cumulation_.release();
    ctx.fire_channel_inactive();
  }
  void handler_removed(HandlerContext& ctx) override;

  /// Bytes held back waiting for the rest of a frame.
  std::size_t cumulated_bytes() const noexcept { return cumulation_.readable_bytes(); }
  bool holds_buffer() const noexcept { return cumulation_.capacity() != 0; }

 private:
  void decode_all(HandlerContext& ctx, Buffer& in);
  void after_decoding(HandlerContext& ctx, Buffer& in, Buffer& source);
  void pass_on_rest(HandlerContext& ctx, Buffer& source);
  /// Tells the channel what the cumulation holds now (MemoryBudget).
  void account(HandlerContext& ctx) noexcept;
  Buffer cumulation_;
  std::uint32_t accounted_ = 0;  // cumulation capacity told to the channel; a frame stays below 4 GiB
  bool decoding_ = false;  // inside decode_all (a handler downstream may remove us)
  bool removed_ = false;
};

}  // namespace sluice

#include "sluice/codec/detail/byte_to_message_decoder_impl.hpp"

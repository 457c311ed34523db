#pragma once
// Template definitions of ByteToMessageDecoder (included by its header).

#include <algorithm>
#include <cstdint>

#include "sluice/channel/channel.hpp"
#include "sluice/codec/byte_to_message_decoder.hpp"

namespace sluice {

template <class Out>
void ByteToMessageDecoder<Out>::decode_all(HandlerContext& ctx, Buffer& in) {
  // A handler downstream may close the channel or remove this decoder.
  while (!removed_ && !in.empty() && ctx.channel().is_active() && decode(ctx, in)) {
  }
}

template <class Out>
void ByteToMessageDecoder<Out>::read(HandlerContext& ctx, Buffer& in) {
  const bool cumulating = !cumulation_.empty();
  if (cumulating) {
    cumulation_.append(in.view());
    in.retrieve_all();
  }
  Buffer& source = cumulating ? cumulation_ : in;
  decoding_ = true;
  try {
    decode_all(ctx, source);
  } catch (...) {
    // A DecoderError: the decoder skipped the bad bytes; what follows them
    // is kept like any unfinished frame and decoded on the next read.
    after_decoding(ctx, in, source);
    throw;
  }
  after_decoding(ctx, in, source);
}

template <class Out>
void ByteToMessageDecoder<Out>::after_decoding(HandlerContext& ctx, Buffer& in, Buffer& source) {
  decoding_ = false;
  if (removed_) {
    // Removed while decoding (an upgrade): the rest belongs to whoever comes
    // next, after the messages already decoded.
    pass_on_rest(ctx, source);
    return;
  }
  if (&source == &in) {
    // `in` is lent for this call only (the read slab): keep an unfinished frame.
    if (!in.empty() && ctx.channel().is_active()) {
      cumulation_ = Buffer(in.readable_bytes());
      cumulation_.append(in.view());
    }
    in.retrieve_all();
  } else if (cumulation_.empty() || !ctx.channel().is_active()) {
    cumulation_.release();  // an idle or closed connection holds no buffer
  }
  account(ctx);
}

template <class Out>
void ByteToMessageDecoder<Out>::account(HandlerContext& ctx) noexcept {
  auto now = static_cast<std::uint32_t>(std::min<std::size_t>(cumulation_.capacity(), UINT32_MAX));
  if (now == accounted_) return;
  ctx.channel().account_memory(static_cast<std::ptrdiff_t>(now) - static_cast<std::ptrdiff_t>(accounted_));
  accounted_ = now;
}

template <class Out>
void ByteToMessageDecoder<Out>::pass_on_rest(HandlerContext& ctx, Buffer& source) {
  if (!source.empty()) {
    Buffer rest = std::move(source);
    ctx.fire_read(rest);
  }
  cumulation_.release();
  account(ctx);
}

template <class Out>
void ByteToMessageDecoder<Out>::handler_removed(HandlerContext& ctx) {
  removed_ = true;
  // Bytes already received belong to whoever comes next (e.g. after an
  // upgrade). While decoding, read() passes them on once the decoder stops:
  // the message being handled may still borrow them.
  if (!decoding_) pass_on_rest(ctx, cumulation_);
}

}  // namespace sluice

#pragma once
// Template definitions of ByteToMessageDecoder (included by its header).

#include "sluice/channel/channel.hpp"
#include "sluice/codec/byte_to_message_decoder.hpp"

namespace sluice {

template <class Out>
void ByteToMessageDecoder<Out>::decode_all(HandlerContext& ctx, Buffer& in) {
  // A handler downstream may close the channel or remove this decoder.
  while (!in.empty() && ctx.channel().is_active() && decode(ctx, in)) {
  }
}

template <class Out>
void ByteToMessageDecoder<Out>::read(HandlerContext& ctx, Buffer& in) {
  if (cumulation_.empty()) {
    decode_all(ctx, in);
    if (!in.empty() && ctx.channel().is_active()) {
      cumulation_ = Buffer(in.readable_bytes());
      cumulation_.append(in.view());
    }
    in.retrieve_all();
    return;
  }
  cumulation_.append(in.view());
  in.retrieve_all();
  decode_all(ctx, cumulation_);
  if (cumulation_.empty()) cumulation_.release();
}

template <class Out>
void ByteToMessageDecoder<Out>::handler_removed(HandlerContext& ctx) {
  // Bytes already received belong to whoever comes next (e.g. after an upgrade).
  if (!cumulation_.empty()) {
    Buffer rest = std::move(cumulation_);
    ctx.fire_read(rest);
  }
  cumulation_.release();
}

}  // namespace sluice

#include "sluice/codec/string_codec.hpp"

#include "sluice/channel/pipeline.hpp"

namespace sluice {

namespace {
void decode_string(HandlerContext& ctx, Buffer& message) {
  std::string text = message.retrieve_all_as_string();
  ctx.fire_read(text);
}
void encode_string(HandlerContext& ctx, std::string& message) {
  Buffer bytes = Buffer::copy_of(message);
  ctx.write(bytes);
}
}  // namespace

void StringDecoder::read(HandlerContext& ctx, Buffer& message) { decode_string(ctx, message); }
void StringEncoder::write(HandlerContext& ctx, std::string& message) { encode_string(ctx, message); }
void StringCodec::read(HandlerContext& ctx, Buffer& message) { decode_string(ctx, message); }
void StringCodec::write(HandlerContext& ctx, std::string& message) { encode_string(ctx, message); }

}  // namespace sluice

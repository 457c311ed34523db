#include <sys/random.h>

#include <algorithm>
#include <limits>

#include "frame_header.hpp"
#include "masking.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/websocket/websocket_frame.hpp"
#include "../core/utf8.hpp"

namespace sluice {

bool close_code::valid_on_wire(std::uint16_t code) noexcept {
  // 1004 is reserved; 1005, 1006 and 1015 are for reporting only; 1012-1014
  // were registered after the RFC (IANA); 3000-4999 belong to libraries and
  // applications.
  return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
         (code >= 3000 && code <= 4999);
}

namespace detail {

void next_mask_key(unsigned char key[4]) noexcept {
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed) || seed == 0) {
      seed = reinterpret_cast<std::uintptr_t>(&seed) ^ 0x9E3779B97F4A7C15ULL;
    }
    return seed;
  }();
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  std::uint64_t r = state * 0x2545F4914F6CDD1DULL;
  std::memcpy(key, &r, 4);
}

}  // namespace detail

// A message arriving in fragments: gathered here, its text checked as each
// fragment comes. Made by the first fragment, gone with the last.
struct WebSocketFrameCodec::Fragments {
  WebSocketOpcode opcode;
  detail::Utf8Validator utf8;
  Buffer bytes;
};

namespace {

bool is_control(WebSocketOpcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

bool known_opcode(std::uint8_t op) noexcept { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

std::uint64_t read_big_endian(const char* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

WebSocketFrameCodec::WebSocketFrameCodec(WebSocketRole role, std::size_t max_message_bytes) noexcept
    : max_message_bytes_(static_cast<std::uint32_t>(
          std::min<std::size_t>(max_message_bytes, std::numeric_limits<std::uint32_t>::max()))),
      role_(role) {}

WebSocketFrameCodec::~WebSocketFrameCodec() = default;

std::size_t WebSocketFrameCodec::held_bytes() const noexcept {
  return partial_.readable_bytes() + (fragments_ ? fragments_->bytes.readable_bytes() : 0);
}

void WebSocketFrameCodec::fail(std::uint16_t code, const char* reason) {
  failed_ = true;
  partial_.release();
  fragments_.reset();
  throw WebSocketProtocolError(code, reason);
}

void WebSocketFrameCodec::account(HandlerContext& ctx) noexcept {
  auto held = static_cast<std::uint32_t>(held_bytes());
  if (held == accounted_) return;
  ctx.channel().account_memory(static_cast<std::ptrdiff_t>(held) - static_cast<std::ptrdiff_t>(accounted_));
  accounted_ = held;
}

// ---- decoding ----

void WebSocketFrameCodec::read(HandlerContext& ctx, Buffer& bytes) {
  struct Accounted {  // told whatever way read() leaves, a failure included
    WebSocketFrameCodec& codec;
    HandlerContext& ctx;
    ~Accounted() { codec.account(ctx); }
  } accounted{*this, ctx};
  if (failed_) {
    bytes.retrieve_all();  // after a violation nothing more is read
    return;
  }
  // Frames are decoded where they lie: in the read itself, or, when a
  // frame was cut by the end of the last read, in partial_ with this
  // read appended.
  Buffer* input = &bytes;
  if (!partial_.empty()) {
    partial_.append(bytes.view());
    bytes.retrieve_all();
    input = &partial_;
  }
  while (!input->empty() && !failed_) {
    std::size_t used = 0;
    if (decode_frame(ctx, input->peek_mut(), input->readable_bytes(), used) == Step::more) break;
    input->retrieve(used);
  }
  if (input == &bytes && !bytes.empty() && !failed_) {
    partial_.append(bytes.view());
    bytes.retrieve_all();
  }
  if (partial_.empty()) partial_.release();  // an idle connection holds no buffer
}

// Decodes the frame at the start of [data, data + len): Step::more when it
// is not all there yet; else it is delivered and `used` says its size.
WebSocketFrameCodec::Step WebSocketFrameCodec::decode_frame(HandlerContext& ctx, char* data, std::size_t len,
                                                            std::size_t& used) {
  if (len < 2) return Step::more;
  auto b0 = static_cast<unsigned char>(data[0]);
  auto b1 = static_cast<unsigned char>(data[1]);
  bool fin = (b0 & 0x80) != 0;
  bool masked = (b1 & 0x80) != 0;
  std::uint8_t raw_opcode = b0 & 0x0F;
  std::size_t length7 = b1 & 0x7F;
  if ((b0 & 0x70) != 0) fail(close_code::protocol_error, "reserved bits set without an extension");
  if (!known_opcode(raw_opcode)) fail(close_code::protocol_error, "unknown opcode");
  auto opcode = static_cast<WebSocketOpcode>(raw_opcode);
  if (is_control(opcode)) {
    if (!fin) fail(close_code::protocol_error, "fragmented control frame");
    if (length7 > 125) fail(close_code::protocol_error, "control frame over 125 bytes");
  } else if (opcode == WebSocketOpcode::continuation && !fragments_) {
    fail(close_code::protocol_error, "continuation frame without a message to continue");
  } else if (opcode != WebSocketOpcode::continuation && fragments_) {
    fail(close_code::protocol_error, "new message inside a fragmented one");
  }
  if (role_ == WebSocketRole::server && !masked) fail(close_code::protocol_error, "unmasked client frame");
  if (role_ == WebSocketRole::client && masked) fail(close_code::protocol_error, "masked server frame");

  int length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
  std::size_t header = 2 + static_cast<std::size_t>(length_bytes) + (masked ? 4 : 0);
  if (len < header) return Step::more;
  std::uint64_t size = length7;
  if (length_bytes != 0) {
    size = read_big_endian(data + 2, length_bytes);
    if (length_bytes == 8 && (size >> 63) != 0) fail(close_code::protocol_error, "frame length over 2^63");
    // The shortest form is required (section 5.2).
    if (size < 126 || (length_bytes == 8 && size <= 0xFFFF)) {
      fail(close_code::protocol_error, "frame length not in its shortest form");
    }
  }
  if (!is_control(opcode)) {
    std::uint64_t before = fragments_ ? fragments_->bytes.readable_bytes() : 0;
    if (size > max_message_bytes_ - before) fail(close_code::message_too_big, "message too big");
  }
  if (len - header < size) return Step::more;

  char* payload = data + header;
  if (masked) detail::apply_mask(payload, size, reinterpret_cast<const unsigned char*>(data + header - 4));
  used = header + size;
  if (is_control(opcode)) {
    deliver_control(ctx, opcode, std::string_view(payload, size));
  } else {
    deliver(ctx, opcode, fin, payload, size);
  }
  return Step::frame_done;
}

void WebSocketFrameCodec::deliver(HandlerContext& ctx, WebSocketOpcode opcode, bool fin, char* payload,
                                  std::size_t size) {
  if (!fragments_) {
    if (fin) {
      // A whole message in one frame: a view of the read, no copy.
      if (opcode == WebSocketOpcode::text && !detail::Utf8Validator::valid(payload, size)) {
        fail(close_code::invalid_payload, "text message is not valid UTF-8");
      }
      ctx.fire_read(WebSocketMessage{opcode, std::string_view(payload, size)});
      return;
    }
    fragments_ = std::make_unique<Fragments>();
    fragments_->opcode = opcode;
  }
  Fragments& f = *fragments_;
  if (f.opcode == WebSocketOpcode::text && !f.utf8.feed(payload, size)) {
    fail(close_code::invalid_payload, "text message is not valid UTF-8");
  }
  f.bytes.append(payload, size);
  if (!fin) return;
  if (f.opcode == WebSocketOpcode::text && !f.utf8.complete()) {
    fail(close_code::invalid_payload, "text message ends inside a UTF-8 sequence");
  }
  std::unique_ptr<Fragments> done = std::move(fragments_);
  ctx.fire_read(WebSocketMessage{done->opcode, done->bytes.view()});
}

void WebSocketFrameCodec::deliver_control(HandlerContext& ctx, WebSocketOpcode opcode, std::string_view payload) {
  if (opcode == WebSocketOpcode::close && !payload.empty()) {
    if (payload.size() == 1) fail(close_code::protocol_error, "close frame with a 1-byte body");
    auto code = static_cast<std::uint16_t>(read_big_endian(payload.data(), 2));
    if (!close_code::valid_on_wire(code)) fail(close_code::protocol_error, "invalid close code");
    if (!detail::Utf8Validator::valid(payload.data() + 2, payload.size() - 2)) {
      fail(close_code::invalid_payload, "close reason is not valid UTF-8");
    }
  }
  ctx.fire_read(WebSocketMessage{opcode, payload});
}

void WebSocketFrameCodec::handler_removed(HandlerContext& ctx) {
  partial_.release();
  fragments_.reset();
  account(ctx);
}

// ---- encoding ----

void WebSocketFrameCodec::write(HandlerContext& ctx, WebSocketFrame& frame) {
  if (frame.framed) {
    ctx.write(frame.payload);
    return;
  }
  Buffer& payload = frame.payload;
  std::size_t size = payload.readable_bytes();
  char header[detail::kMaxFrameHeaderBytes];
  bool client = role_ == WebSocketRole::client;
  std::size_t n = detail::write_frame_header(header, frame.opcode, frame.fin, client, size);
  if (client) {
    if (!payload.owns_storage()) payload = Buffer::copy_of(payload.view());  // masked in place below
    auto* key = reinterpret_cast<unsigned char*>(header + n);
    detail::next_mask_key(key);
    n += 4;
    detail::apply_mask(payload.peek_mut(), size, key);
  }
  if (payload.owns_storage() && payload.prependable_bytes() >= n) {
    payload.prepend(header, n);
    ctx.write(payload);
    return;
  }
  Buffer whole(n + size);
  whole.append(header, n);
  whole.append(payload.view());
  ctx.write(whole);
}

}  // namespace sluice

#include "frame_coding.hpp"

#include <algorithm>
#include <limits>

#include "frame_header.hpp"
#include "masking.hpp"
#include "sluice/channel/channel.hpp"
#include "../core/utf8.hpp"

namespace sluice::detail {

// What a decoder holds between reads, made when first needed and freed
// when empty again: an idle connection carries only the pointer.
struct FrameDecoder::Held {
  // A message arriving in fragments: none; being gathered; or handed out
  // by the last next() (its bytes live until the next call).
  enum class Fragments : std::uint8_t { none, gathering, delivered };

  Buffer partial;  // a frame cut by the end of a read
  Buffer message;  // the fragments gathered so far
  Utf8Validator utf8;
  WebSocketOpcode opcode = WebSocketOpcode::text;
  Fragments fragments = Fragments::none;
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

FrameDecoder::FrameDecoder(WebSocketRole role, std::size_t max_message_bytes) noexcept
    : max_message_bytes_(static_cast<std::uint32_t>(
          std::min<std::size_t>(max_message_bytes, std::numeric_limits<std::uint32_t>::max()))),
      role_(role) {}

FrameDecoder::~FrameDecoder() = default;

std::size_t FrameDecoder::held_bytes() const noexcept {
  return held_ ? held_->partial.readable_bytes() + held_->message.readable_bytes() : 0;
}

void FrameDecoder::drop_held() noexcept { held_.reset(); }

HeldBytesAccount::~HeldBytesAccount() {
  std::size_t after = decoder_.held_bytes();
  if (after != before_) channel_.account_memory(static_cast<std::ptrdiff_t>(after) - static_cast<std::ptrdiff_t>(before_));
}

void FrameDecoder::fail(std::uint16_t code, const char* reason) {
  failed_ = true;
  held_.reset();
  throw WebSocketProtocolError(code, reason);
}

bool FrameDecoder::gathering() const noexcept { return held_ && held_->fragments == Held::Fragments::gathering; }

FrameDecoder::Held& FrameDecoder::hold() {
  if (!held_) held_ = std::make_unique<Held>();
  return *held_;
}

void FrameDecoder::shrink_held() noexcept {
  if (!held_) return;
  if (held_->partial.empty()) {
    if (held_->fragments == Held::Fragments::none) {
      held_.reset();
      return;
    }
    held_->partial.release();
  }
}

std::optional<WebSocketMessage> FrameDecoder::next(Buffer& bytes) {
  if (failed_) {
    bytes.retrieve_all();  // after a violation nothing more is read
    return std::nullopt;
  }
  if (held_ && held_->fragments == Held::Fragments::delivered) {
    held_->message.release();
    held_->fragments = Held::Fragments::none;
  }
  // Frames are decoded where they lie: in the read itself, or, when a
  // frame was cut by the end of an earlier read, in `partial` with this
  // read appended.
  Buffer* input = &bytes;
  if (held_ && !held_->partial.empty()) {
    held_->partial.append(bytes.view());
    bytes.retrieve_all();
    input = &held_->partial;
  }
  while (!input->empty()) {
    std::size_t used = 0;
    WebSocketMessage message;
    Step step = decode_frame(input->peek_mut(), input->readable_bytes(), used, message);
    if (step == Step::more_bytes) break;
    // Retrieving moves no byte: the message's view stays good until the
    // next call.
    input->retrieve(used);
    if (step == Step::message) return message;
  }
  if (input == &bytes && !bytes.empty()) {
    hold().partial.append(bytes.view());
    bytes.retrieve_all();
  }
  shrink_held();
  return std::nullopt;
}

// Decodes the frame at the start of [data, data + len): Step::more_bytes
// when it is not all there yet; else `used` says its size, and `out` is
// the message when the frame ends one (a control frame always does).
FrameDecoder::Step FrameDecoder::decode_frame(char* data, std::size_t len, std::size_t& used, WebSocketMessage& out) {
  if (len < 2) return Step::more_bytes;
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
  } else if (opcode == WebSocketOpcode::continuation && !gathering()) {
    fail(close_code::protocol_error, "continuation frame without a message to continue");
  } else if (opcode != WebSocketOpcode::continuation && gathering()) {
    fail(close_code::protocol_error, "new message inside a fragmented one");
  }
  if (role_ == WebSocketRole::server && !masked) fail(close_code::protocol_error, "unmasked client frame");
  if (role_ == WebSocketRole::client && masked) fail(close_code::protocol_error, "masked server frame");

  int length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
  std::size_t header = 2 + static_cast<std::size_t>(length_bytes) + (masked ? 4 : 0);
  if (len < header) return Step::more_bytes;
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
    std::uint64_t before = gathering() ? held_->message.readable_bytes() : 0;
    if (size > max_message_bytes_ - before) fail(close_code::message_too_big, "message too big");
  }
  if (len - header < size) return Step::more_bytes;

  char* payload = data + header;
  if (masked) apply_mask(payload, size, reinterpret_cast<const unsigned char*>(data + header - 4));
  used = header + size;
  if (!is_control(opcode)) return take_data(opcode, fin, payload, size, out);
  check_control(opcode, std::string_view(payload, size));
  out = WebSocketMessage{opcode, std::string_view(payload, size)};
  return Step::message;
}

FrameDecoder::Step FrameDecoder::take_data(WebSocketOpcode opcode, bool fin, char* payload, std::size_t size,
                                           WebSocketMessage& out) {
  if (!gathering()) {
    if (fin) {
      // A whole message in one frame: a view of the read, no copy.
      if (opcode == WebSocketOpcode::text && !Utf8Validator::valid(payload, size)) {
        fail(close_code::invalid_payload, "text message is not valid UTF-8");
      }
      out = WebSocketMessage{opcode, std::string_view(payload, size)};
      return Step::message;
    }
    Held& h = hold();
    h.fragments = Held::Fragments::gathering;
    h.opcode = opcode;
    h.utf8 = Utf8Validator();
  }
  Held& h = *held_;
  if (h.opcode == WebSocketOpcode::text && !h.utf8.feed(payload, size)) {
    fail(close_code::invalid_payload, "text message is not valid UTF-8");
  }
  h.message.append(payload, size);
  if (!fin) return Step::fragment;
  if (h.opcode == WebSocketOpcode::text && !h.utf8.complete()) {
    fail(close_code::invalid_payload, "text message ends inside a UTF-8 sequence");
  }
  h.fragments = Held::Fragments::delivered;
  out = WebSocketMessage{h.opcode, h.message.view()};
  return Step::message;
}

void FrameDecoder::check_control(WebSocketOpcode opcode, std::string_view payload) {
  if (opcode != WebSocketOpcode::close || payload.empty()) return;
  if (payload.size() == 1) fail(close_code::protocol_error, "close frame with a 1-byte body");
  auto code = static_cast<std::uint16_t>(read_big_endian(payload.data(), 2));
  if (!close_code::valid_on_wire(code)) fail(close_code::protocol_error, "invalid close code");
  if (!Utf8Validator::valid(payload.data() + 2, payload.size() - 2)) {
    fail(close_code::invalid_payload, "close reason is not valid UTF-8");
  }
}

Buffer encode_frame(WebSocketOpcode opcode, bool fin, Buffer payload, WebSocketRole role) {
  std::size_t size = payload.readable_bytes();
  char header[kMaxFrameHeaderBytes];
  bool client = role == WebSocketRole::client;
  std::size_t n = write_frame_header(header, opcode, fin, client, size);
  if (client) {
    if (!payload.owns_storage()) payload = Buffer::copy_of(payload.view());  // masked in place below
    auto* key = reinterpret_cast<unsigned char*>(header + n);
    next_mask_key(key);
    n += 4;
    apply_mask(payload.peek_mut(), size, key);
  }
  if (payload.owns_storage() && payload.prependable_bytes() >= n) {
    payload.prepend(header, n);
    return payload;
  }
  Buffer whole(n + size);
  whole.append(header, n);
  whole.append(payload.view());
  return whole;
}

}  // namespace sluice::detail

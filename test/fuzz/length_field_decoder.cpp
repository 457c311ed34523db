// Fuzz target: LengthFieldDecoder on an EmbeddedChannel.
//
// Input: [layout][adjustment][strip][max][cuts: 3 bytes][bytes].
//   layout: bits 0-1 the field's offset (0-3), bits 2-3 its size (1, 2, 4
//   or 8 bytes), bit 4 little-endian, bit 5 handle errors (decoding goes on
//   after a bad frame) instead of closing;
//   adjustment: a signed byte; strip: 0-15 bytes; max: max_frame_length / 2.
//
// Invariants: whole or cut, the same frames and errors in the same order;
// no frame longer than max_frame_length less what is stripped; after an
// unhandled error, nothing more, and the channel is closed; an input that
// is one well-formed frame (plain layout, no adjustment) comes out as its
// payload.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framing.hpp"
#include "fuzz_input.hpp"
#include "sluice/codec/length_field_decoder.hpp"

using namespace sluice;

namespace {

std::string describe(const fuzz::Events& events) {
  std::string s;
  for (const auto& e : events) s += "  " + fuzz::printable(e, 200) + "\n";
  return s;
}

void check_frames(const fuzz::Events& events, const LengthFieldDecoder::Options& o, bool handle_errors) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string& e = events[i];
    if (e.rfind("frame:", 0) == 0 && e.size() - 6 + o.initial_bytes_to_strip > o.max_frame_length) {
      fuzz::broken("no frame is longer than max_frame_length", describe(events));
    }
    if (e.rfind("error:", 0) == 0 && !handle_errors) {
      if (i + 2 != events.size() || events.back() != "closed") {
        fuzz::broken("an unhandled error closes the channel, and nothing follows it", describe(events));
      }
    }
    if (e == "error:other") fuzz::broken("the decoder throws only DecoderError", describe(events));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  static constexpr std::size_t kSizes[] = {1, 2, 4, 8};
  std::uint8_t layout = in.byte();
  LengthFieldDecoder::Options o;
  o.length_field_offset = layout & 3;
  o.length_field_size = kSizes[(layout >> 2) & 3];
  o.big_endian = (layout & 16) == 0;
  bool handle_errors = (layout & 32) != 0;
  o.length_adjustment = static_cast<std::int8_t>(in.byte());
  o.initial_bytes_to_strip = in.byte() % 16;
  o.max_frame_length = std::size_t{in.byte()} * 2;
  fuzz::Cuts cuts = fuzz::Cuts::read(in);
  std::string_view bytes = in.rest();

  fuzz::Events whole = fuzz::decode_reads<LengthFieldDecoder>(o, handle_errors, fuzz::Cuts::whole(bytes));
  check_frames(whole, o, handle_errors);
  fuzz::Events cut = fuzz::decode_reads<LengthFieldDecoder>(o, handle_errors, cuts.apply(bytes));
  if (cut != whole) {
    fuzz::broken("cut or whole, the same frames and errors", "whole:\n" + describe(whole) + "cut:\n" + describe(cut));
  }

  // One frame in the plainest layout: its payload, whole.
  bool plain = o.length_field_offset == 0 && o.length_adjustment == 0 &&
               o.initial_bytes_to_strip == o.length_field_size;
  if (plain && bytes.size() >= o.length_field_size) {
    std::uint64_t length = read_uint(bytes.data(), o.length_field_size, o.big_endian);
    std::string_view payload = bytes.substr(o.length_field_size);
    if (payload.size() == length && length + o.length_field_size <= o.max_frame_length &&
        whole != fuzz::Events{"frame:" + std::string(payload)}) {
      fuzz::broken("one well-formed frame comes out as its payload", describe(whole));
    }
  }
  return 0;
}

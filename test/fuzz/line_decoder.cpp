// Fuzz target: LineDecoder on an EmbeddedChannel.
//
// Input: [max_length][flags][cuts: 3 bytes][bytes]. flags: bit 0 keeps
// the delimiter, bit 1 handles errors (decoding goes on after a too-long
// line) instead of closing.
//
// Invariants: whole or cut, the decoder passes on exactly what a plain
// reference splitter says: each line ending in "\n" (a "\r" before it is
// part of the delimiter), a line longer than max_length as one error
// instead, an unfinished line longer than max_length + 1 (its "\r" may
// still be waiting for its "\n") as an error too; after an unhandled error,
// nothing more, and the channel is closed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framing.hpp"
#include "fuzz_input.hpp"
#include "sluice/codec/line_decoder.hpp"

using namespace sluice;

namespace {

fuzz::Events reference(std::string_view bytes, const LineDecoder::Options& o, bool handle_errors) {
  fuzz::Events events;
  auto too_long = [&] {
    events.push_back("error:too long");
    if (!handle_errors) events.push_back("closed");
    return !handle_errors;  // whether to stop
  };
  for (;;) {
    std::size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (bytes.size() > o.max_length + 1) too_long();
      return events;
    }
    std::string_view line = bytes.substr(0, newline + 1);
    std::string_view content = line.substr(0, newline);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    bytes.remove_prefix(newline + 1);
    if (content.size() > o.max_length) {
      if (too_long()) return events;
      continue;
    }
    events.push_back("frame:" + std::string(o.strip_delimiter ? content : line));
  }
}

std::string describe(const fuzz::Events& events) {
  std::string s;
  for (const auto& e : events) s += "  " + fuzz::printable(e, 200) + "\n";
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  LineDecoder::Options options;
  options.max_length = in.byte() % 64;
  std::uint8_t flags = in.byte();
  options.strip_delimiter = (flags & 1) == 0;
  bool handle_errors = (flags & 2) != 0;
  fuzz::Cuts cuts = fuzz::Cuts::read(in);
  std::string_view bytes = in.rest();

  fuzz::Events expected = reference(bytes, options, handle_errors);
  fuzz::Events whole = fuzz::decode_reads<LineDecoder>(options, handle_errors, fuzz::Cuts::whole(bytes));
  if (whole != expected) {
    fuzz::broken("whole, the lines the reference splitter finds",
                 "expected:\n" + describe(expected) + "got:\n" + describe(whole));
  }
  fuzz::Events cut = fuzz::decode_reads<LineDecoder>(options, handle_errors, cuts.apply(bytes));
  if (cut != expected) {
    fuzz::broken("cut, the lines the reference splitter finds",
                 "expected:\n" + describe(expected) + "got:\n" + describe(cut));
  }
  return 0;
}

// The incremental UTF-8 check (RFC 3629) the WebSocket codec runs on text.
#include <catch2/catch.hpp>

#include <string>

#include "../lib/core/utf8.hpp"

using sluice::detail::Utf8Validator;

namespace {
// The same answer whole and fed in two pieces split at every byte.
bool valid_everywhere(const std::string& s) {
  bool whole = Utf8Validator::valid(s.data(), s.size());
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    Utf8Validator v;
    bool ok = v.feed(s.data(), cut) && v.feed(s.data() + cut, s.size() - cut) && v.complete();
    INFO("split at " << cut);
    REQUIRE(ok == whole);
  }
  return whole;
}
}  // namespace

TEST_CASE("utf8: valid text", "[websocket][utf8]") {
  CHECK(valid_everywhere(""));
  CHECK(valid_everywhere("plain ASCII, long enough for the word-at-a-time path"));
  CHECK(valid_everywhere("\xc2\x80 \xdf\xbf"));                  // 2 bytes, lowest and highest
  CHECK(valid_everywhere("\xe0\xa0\x80 \xef\xbf\xbf \xe2\x82\xac"));  // 3 bytes, euro sign
  CHECK(valid_everywhere("\xed\x9f\xbf \xee\x80\x80"));          // around the surrogates
  CHECK(valid_everywhere("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"));  // 4 bytes, up to U+10FFFF
  CHECK(valid_everywhere("κόσμε, 世界, 🙂"));
}

TEST_CASE("utf8: invalid text", "[websocket][utf8]") {
  CHECK_FALSE(valid_everywhere("\x80"));               // a lone continuation byte
  CHECK_FALSE(valid_everywhere("\xc0\x80"));           // overlong NUL
  CHECK_FALSE(valid_everywhere("\xc1\xbf"));           // overlong
  CHECK_FALSE(valid_everywhere("\xe0\x9f\xbf"));       // overlong 3-byte
  CHECK_FALSE(valid_everywhere("\xed\xa0\x80"));       // high surrogate
  CHECK_FALSE(valid_everywhere("\xed\xbf\xbf"));       // low surrogate
  CHECK_FALSE(valid_everywhere("\xf0\x8f\xbf\xbf"));   // overlong 4-byte
  CHECK_FALSE(valid_everywhere("\xf4\x90\x80\x80"));   // above U+10FFFF
  CHECK_FALSE(valid_everywhere("\xf5\x80\x80\x80"));   // no such lead byte
  CHECK_FALSE(valid_everywhere("\xff"));
  CHECK_FALSE(valid_everywhere("abc\xe2\x82"));        // ends inside a character
  CHECK_FALSE(valid_everywhere("\xe2\x82" "abc"));     // interrupted
  CHECK_FALSE(valid_everywhere(std::string(15, 'a') + "\x80" + std::string(15, 'b')));  // inside a word
}

TEST_CASE("utf8: fails at the first impossible byte, before the text ends", "[websocket][utf8]") {
  Utf8Validator v;
  CHECK(v.feed("ok", 2));
  CHECK_FALSE(v.feed("\xff more", 6));
}

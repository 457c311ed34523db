// HttpBodyStream on its own: delivery before and after on_data(), pause and
// resume with the codec's flow callback, the end with or without an error,
// and the stream of a body that has already ended.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "../lib/http/body_stream_feed.hpp"
#include "sluice/http/http_body_stream.hpp"

using sluice::HttpBodyStream;
using Feed = sluice::detail::BodyStreamFeed;

namespace {
// What a handler saw, and what the codec was told.
struct Consumer {
  std::string data;
  std::vector<int> ends;
  std::vector<bool> flow;  // each flow(stop) call, in order

  void attach_flow(HttpBodyStream& s) {
    sluice::detail::BodyStreamFeed::set_flow(s, [this](bool stop) { flow.push_back(stop); });
  }
  void start(HttpBodyStream& s) {
    s.on_data([this](std::string_view piece) { data.append(piece); }, [this](int status) { ends.push_back(status); });
  }
};
}  // namespace

TEST_CASE("HttpBodyStream delivers pieces that came before on_data, then the rest as they come", "[http][body_stream]") {
  HttpBodyStream s;
  Consumer c;
  c.attach_flow(s);
  Feed::push(s, "early ");
  Feed::push(s, "bytes ");
  CHECK(s.received() == 12);
  c.start(s);
  CHECK(c.data == "early bytes ");
  CHECK(c.flow == std::vector<bool>{false});  // the codec may go on
  Feed::push(s, "later");
  CHECK(c.data == "early bytes later");
  CHECK(c.ends.empty());
  Feed::finish(s, 0);
  CHECK(c.ends == std::vector<int>{0});
  CHECK(s.ended());
  Feed::finish(s, 0);  // once only
  CHECK(c.ends.size() == 1);
}

TEST_CASE("HttpBodyStream asks the codec to stop for a consumer that has not started and holds much", "[http][body_stream]") {
  HttpBodyStream s;
  CHECK_FALSE(Feed::wants_stop(s));
  Feed::push(s, std::string(64 * 1024, 'x'));
  CHECK(Feed::wants_stop(s));  // no consumer yet, and its bound reached
  Consumer c;
  c.attach_flow(s);
  c.start(s);
  CHECK(c.data.size() == 64 * 1024);
  CHECK_FALSE(Feed::wants_stop(s));
  CHECK(c.flow == std::vector<bool>{false});
}

TEST_CASE("HttpBodyStream pause and resume hold pieces and tell the codec", "[http][body_stream]") {
  HttpBodyStream s;
  Consumer c;
  c.attach_flow(s);
  c.start(s);
  c.flow.clear();
  s.pause();
  CHECK(s.paused());
  CHECK(Feed::wants_stop(s));
  CHECK(c.flow == std::vector<bool>{true});
  s.pause();  // already paused: nothing more said
  CHECK(c.flow.size() == 1);
  Feed::push(s, "held");
  Feed::finish(s, 0);
  CHECK(c.data.empty());
  CHECK(c.ends.empty());  // a paused consumer learns of the end after what precedes it
  s.resume();
  CHECK(c.data == "held");
  CHECK(c.ends == std::vector<int>{0});
  CHECK(c.flow == std::vector<bool>{true, false});
}

TEST_CASE("HttpBodyStream tells even a paused consumer of a failure", "[http][body_stream]") {
  HttpBodyStream s;
  Consumer c;
  c.start(s);
  s.pause();
  Feed::push(s, "part");
  Feed::finish(s, 413);
  CHECK(c.ends.empty());  // "part" still waits
  s.resume();
  CHECK(c.data == "part");
  CHECK(c.ends == std::vector<int>{413});

  HttpBodyStream t;
  Consumer d;
  d.start(t);
  t.pause();
  Feed::finish(t, 499);  // nothing held: the error arrives at once
  CHECK(d.ends == std::vector<int>{499});
}

TEST_CASE("HttpBodyStream::finished: a body that has already arrived whole, or none", "[http][body_stream]") {
  SECTION("none") {
    auto s = HttpBodyStream::finished();
    CHECK(s->ended());
    CHECK(s->received() == 0);
    Consumer c;
    c.start(*s);
    CHECK(c.data.empty());
    CHECK(c.ends == std::vector<int>{0});
  }
  SECTION("a whole body") {
    auto s = HttpBodyStream::finished("the whole body");
    CHECK(s->received() == 14);
    Consumer c;
    c.start(*s);
    CHECK(c.data == "the whole body");
    CHECK(c.ends == std::vector<int>{0});
  }
}

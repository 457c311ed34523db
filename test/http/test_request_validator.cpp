// detail::validate_request / validate_expect: the rules of a request head,
// as pure functions of the parsed head (no parser, no channel).
#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <utility>

#include "../lib/http/request_validator.hpp"

using sluice::HttpRequest;
using sluice::detail::HeadFacts;
using sluice::detail::validate_expect;
using sluice::detail::validate_request;

namespace {

struct Head {
  HttpRequest request;
  HeadFacts facts;
};

// A GET of `target` in HTTP/1.`minor` with `fields`, noted as the decoder notes them.
Head head(std::initializer_list<std::pair<const char*, const char*>> fields, int minor = 1,
          std::string target = "/") {
  Head h;
  h.request.method = "GET";
  h.request.target = std::move(target);
  h.request.version_minor = minor;
  for (auto [name, value] : fields) {
    h.request.headers.add(name, value);
    h.facts.note(name);
  }
  return h;
}

int status_of(const Head& h) { return validate_request(h.request, h.facts).status; }

}  // namespace

TEST_CASE("validator: a well-formed head is accepted", "[http][validator]") {
  CHECK(status_of(head({{"Host", "x"}})) == 0);
  CHECK(status_of(head({}, 0)) == 0);  // HTTP/1.0 needs no Host
  CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}})) == 0);
  CHECK(status_of(head({{"host", "x"}, {"transfer-encoding", " Chunked "}})) == 0);  // names and codings: any case
  CHECK(status_of(head({{"Host", "x"}, {"Content-Length", "5"}})) == 0);
}

TEST_CASE("validator: the version", "[http][validator]") {
  Head h = head({{"Host", "x"}});
  h.request.version_major = 2;
  auto v = validate_request(h.request, h.facts);
  CHECK(v.status == 505);
  CHECK(v.text() == "HTTP Version Not Supported");
}

TEST_CASE("validator: Host", "[http][validator]") {
  CHECK(status_of(head({})) == 400);                            // missing in 1.1
  CHECK(status_of(head({{"Host", "a"}, {"Host", "b"}})) == 400);  // repeated
  CHECK(status_of(head({{"Host", "a"}, {"Host", "a"}}, 0)) == 400);
  CHECK(status_of(head({{"Host", "x"}}, 1, "")) == 400);        // and an empty target
}

TEST_CASE("validator: the smuggling rules", "[http][validator]") {
  SECTION("Content-Length with Transfer-Encoding") {
    auto v = validate_request(head({{"Host", "x"}, {"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}}).request,
                              head({{"Host", "x"}, {"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}}).facts);
    CHECK(v.status == 400);
    CHECK(v.text() == "Bad Request: Content-Length with Transfer-Encoding");
  }
  SECTION("HTTP/1.0 with Transfer-Encoding") {
    CHECK(status_of(head({{"Transfer-Encoding", "chunked"}}, 0)) == 400);
  }
  SECTION("chunked not last, or twice") {
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "chunked, gzip"}})) == 400);
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})) == 400);
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "chunked,chunked"}})) == 400);
  }
  SECTION("malformed codings are 400, even after an unknown one") {
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "chunked,"}})) == 400);
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", ", chunked"}})) == 400);
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "gzip, chu nked"}})) == 400);
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "\"chunked\""}})) == 400);
  }
  SECTION("a well-formed coding we do not implement is 501, named") {
    auto h = head({{"Host", "x"}, {"Transfer-Encoding", "gzip, chunked"}});
    auto v = validate_request(h.request, h.facts);
    CHECK(v.status == 501);
    CHECK(v.text() == "Not Implemented: transfer coding gzip");
  }
  SECTION("the first offence in list order decides") {
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "chunked, gzip"}})) == 400);
    CHECK(status_of(head({{"Host", "x"}, {"Transfer-Encoding", "gzip, chunked, chunked"}})) == 501);
  }
}

TEST_CASE("validator: Expect", "[http][validator]") {
  auto expect_status = [](const Head& h) { return validate_expect(h.request, h.facts).status; };
  CHECK(expect_status(head({{"Host", "x"}, {"Expect", "100-continue"}})) == 0);
  CHECK(expect_status(head({{"Host", "x"}, {"Expect", " 100-Continue "}})) == 0);
  CHECK(expect_status(head({{"Host", "x"}, {"Expect", "something-else"}})) == 417);
  CHECK(expect_status(head({{"Expect", "something-else"}}, 0)) == 0);  // HTTP/1.0 ignores Expect
  CHECK(expect_status(head({{"Host", "x"}})) == 0);
  // validate_request leaves Expect alone: the body size's 413 comes first.
  CHECK(status_of(head({{"Host", "x"}, {"Expect", "something-else"}})) == 0);
}

TEST_CASE("validator: HeadFacts notes the four fields it cares about", "[http][validator]") {
  HeadFacts f;
  for (const char* name : {"HOST", "host", "X-Host", "Expect", "content-length", "Transfer-Encoding", "Accept"}) {
    f.note(name);
  }
  CHECK(f.host_fields == 2);
  CHECK(f.expect);
  CHECK(f.content_length);
  CHECK(f.transfer_encoding);
  CHECK(HeadFacts{}.host_fields == 0);
}

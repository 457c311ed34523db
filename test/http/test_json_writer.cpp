// JsonWriter: what it writes is the JSON nlohmann::json would write for the
// same value (parsed back and compared), strings escaped per RFC 8259, and
// every misuse refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "sluice/http/http_response.hpp"
#include "sluice/http/json_writer.hpp"

using namespace sluice;

namespace {

std::string written(JsonWriter& w) { return std::string(w.take().view()); }

}  // namespace

TEST_CASE("json writer: objects, arrays and scalars, nested, read back as written", "[http][json]") {
  JsonWriter w;
  w.begin_object()
      .field("message", "Hello, World!")
      .field("n", 42)
      .field("negative", std::int64_t{-7})
      .field("big", std::numeric_limits<std::uint64_t>::max())
      .field("pi", 3.25)
      .field("yes", true)
      .field("no", false);
  w.key("nothing").null();
  w.key("list").begin_array().value(1).value("two").begin_object().end_object().begin_array().end_array().end_array();
  w.key("empty").begin_object().end_object();
  w.end_object();
  REQUIRE(w.complete());
  std::string json = written(w);
  CHECK(json ==
        R"({"message":"Hello, World!","n":42,"negative":-7,"big":18446744073709551615,"pi":3.25,"yes":true,)"
        R"("no":false,"nothing":null,"list":[1,"two",{},[]],"empty":{}})");
  nlohmann::json parsed = nlohmann::json::parse(json);
  CHECK(parsed["big"].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
  CHECK(nlohmann::ordered_json::parse(json).dump() == json);  // the same text nlohmann writes for it
}

TEST_CASE("json writer: a scalar alone is a whole value; take() leaves it ready for another", "[http][json]") {
  JsonWriter w;
  w.value("just a string");
  CHECK(written(w) == R"("just a string")");
  CHECK_FALSE(w.complete());
  w.value(0);
  CHECK(written(w) == "0");
  w.begin_array().end_array();
  CHECK(written(w) == "[]");
}

TEST_CASE("json writer: strings are escaped as RFC 8259 asks, and UTF-8 is kept as it is", "[http][json]") {
  std::string every_control;
  for (int c = 0; c < 0x20; ++c) every_control += static_cast<char>(c);
  std::string text = "quote \" backslash \\ slash / tab \t newline \n " + every_control + " é 中 😀 \x7f";
  JsonWriter w;
  w.begin_object().field(text, text).end_object();
  std::string json = written(w);
  CHECK(json.find("\\\"") != std::string::npos);
  CHECK(json.find("\\\\") != std::string::npos);
  CHECK(json.find("\\n") != std::string::npos);
  CHECK(json.find("\\u0001") != std::string::npos);
  CHECK(json.find("\\u001f") != std::string::npos);
  for (char c : json) CHECK(static_cast<unsigned char>(c) >= 0x20);  // no raw control character left
  nlohmann::json parsed = nlohmann::json::parse(json);
  CHECK(parsed.at(text).get<std::string>() == text);
  CHECK(parsed.dump() == json);
}

TEST_CASE("json writer: numbers in their shortest exact form; NaN and infinity as null", "[http][json]") {
  const double values[] = {0.1, 1e300, -2.5e-8, 123456789.0, 5e-324, -0.0, 2.0, 1e21, 0.30000000000000004};
  for (double v : values) {
    JsonWriter w;
    w.value(v);
    std::string json = written(w);
    INFO(json);
    CHECK(nlohmann::json::parse(json).get<double>() == v);
    CHECK(nlohmann::json::parse(json).is_number_float());
    CHECK(std::signbit(nlohmann::json::parse(json).get<double>()) == std::signbit(v));
  }
  auto one = [](double v) {
    JsonWriter w;
    w.value(v);
    return written(w);
  };
  CHECK(one(0.1) == "0.1");
  CHECK(one(2.0) == "2.0");
  CHECK(one(-0.0) == "-0.0");
  CHECK(one(123456789.0) == "123456789.0");
  CHECK(one(0.30000000000000004) == "0.30000000000000004");
  JsonWriter w;
  w.begin_array()
      .value(std::nan(""))
      .value(std::numeric_limits<double>::infinity())
      .value(-std::numeric_limits<double>::infinity())
      .end_array();
  CHECK(written(w) == "[null,null,null]");
  w.begin_array().value(std::int8_t{-128}).value(std::uint16_t{65535}).value(std::numeric_limits<std::int64_t>::min());
  w.end_array();
  CHECK(written(w) == "[-128,65535,-9223372036854775808]");
}

TEST_CASE("json writer: every misuse is refused, and the writer stays refused", "[http][json]") {
  auto refused = [](auto&& misuse) {
    JsonWriter w;
    CHECK_THROWS_AS(misuse(w), std::logic_error);
    CHECK_FALSE(w.complete());
    CHECK_THROWS_AS(w.take(), std::logic_error);
    CHECK_THROWS_AS(w.value(1), std::logic_error);
  };
  refused([](JsonWriter& w) { w.begin_object().value(1); });                     // a value where a key is due
  refused([](JsonWriter& w) { w.key("k"); });                                    // a key at the top
  refused([](JsonWriter& w) { w.begin_array().key("k"); });                      // a key in an array
  refused([](JsonWriter& w) { w.begin_object().key("k").end_object(); });        // a key with no value
  refused([](JsonWriter& w) { w.begin_object().end_array(); });                  // ends that do not match
  refused([](JsonWriter& w) { w.begin_array().end_object(); });
  refused([](JsonWriter& w) { w.end_object(); });                                // nothing open
  refused([](JsonWriter& w) { w.end_array(); });
  refused([](JsonWriter& w) { w.value(1).value(2); });                           // two values at the top
  refused([](JsonWriter& w) { w.begin_object().key("a").key("b"); });            // two keys
  refused([](JsonWriter& w) {
    for (int i = 0; i < 33; ++i) w.begin_array();  // 32 levels is the most
  });
  JsonWriter half;
  half.begin_object();
  CHECK_THROWS_AS(half.take(), std::logic_error);  // not whole yet
  CHECK_THROWS_AS(HttpResponse::json(std::move(half)), std::logic_error);

  JsonWriter w;
  w.begin_array();
  CHECK_THROWS_AS(w.value(std::string_view("\xff\xfe", 2)), std::invalid_argument);
  CHECK_THROWS_AS(w.end_array(), std::logic_error);  // refused from then on
  JsonWriter k;
  k.begin_object();
  CHECK_THROWS_AS(k.key("\xc3"), std::invalid_argument);  // a cut sequence
}

TEST_CASE("json writer: HttpResponse::json takes what it wrote as the body, with the JSON content type", "[http][json]") {
  JsonWriter w;
  w.begin_object().field("message", "Hello, World!").end_object();
  HttpResponse r = HttpResponse::json(std::move(w), 201);
  CHECK(r.status == 201);
  CHECK(r.headers.get("Content-Type") == "application/json");
  CHECK(r.body.view() == R"({"message":"Hello, World!"})");
  CHECK(r.body.view() == HttpResponse::json({{"message", "Hello, World!"}}).body.view());
}

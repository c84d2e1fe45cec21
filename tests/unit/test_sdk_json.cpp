// The SDK's JSON text helpers that plugins write Reports with.
#include <trellis/json.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

TEST_CASE("sdk json: strings are escaped and invalid UTF-8 becomes U+FFFD") {
    CHECK(trellis::json_string("plain") == "\"plain\"");
    CHECK(trellis::json_string("a\"b\\c\nd\te\x01") == "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    CHECK(trellis::json_string("M\xc3\xbcller") == "\"M\xc3\xbcller\"");
    CHECK(trellis::json_string("M\xfcller") == "\"M\\ufffdller\"");           // Latin-1 byte
    CHECK(trellis::json_string("\xc0\xaf") == "\"\\ufffd\\ufffd\"");            // overlong '/'
    CHECK(trellis::json_string("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\""); // a surrogate
    // Whatever goes in, a JSON parser reads a string back.
    CHECK(nlohmann::json::parse(trellis::json_string("x\xff\xfe\x80y")).is_string());
}

TEST_CASE("sdk json: numbers read back exactly, NaN and infinity become null") {
    for (double value : {0.1, 1.0 / 3.0, -2.5e-300, 1e300, 123456789.0})
        CHECK(nlohmann::json::parse(trellis::json_number(value)).get<double>() == value);
    CHECK(trellis::json_number(std::nan("")) == "null");
    CHECK(trellis::json_number(std::numeric_limits<double>::infinity()) == "null");
}

// The ABI version rule: same major, plugin minor not newer than the host's.
#include "plugin/api_version.hpp"

#include <trellis/plugin_abi.h>

#include <catch2/catch.hpp>

using trellis::core::api_version_refusal;
using trellis::core::ApiVersion;

TEST_CASE("api version: the host reports the version of plugin_abi.h") {
    const ApiVersion host = trellis::core::host_api_version();
    CHECK(host.major == TRELLIS_API_MAJOR);
    CHECK(host.minor == TRELLIS_API_MINOR);
    CHECK(trellis::core::to_string(ApiVersion{3, 14}) == "3.14");
}

TEST_CASE("api version: an equal version is accepted") {
    CHECK_FALSE(api_version_refusal({1, 0}, {1, 0}).has_value());
    CHECK_FALSE(api_version_refusal({2, 5}, {2, 5}).has_value());
}

TEST_CASE("api version: a plugin built for an older minor is accepted") {
    CHECK_FALSE(api_version_refusal({1, 0}, {1, 3}).has_value());
    CHECK_FALSE(api_version_refusal({1, 2}, {1, 3}).has_value());
}

TEST_CASE("api version: a plugin built for a newer minor is refused") {
    const auto refusal = api_version_refusal({1, 4}, {1, 3});
    REQUIRE(refusal.has_value());
    CHECK(*refusal == "API version mismatch: plugin built for API 1.4, host supports API 1.3 "
                      "(plugin needs a newer trellis)");
}

TEST_CASE("api version: a plugin of a higher major is refused") {
    const auto refusal = api_version_refusal({2, 0}, {1, 0});
    REQUIRE(refusal.has_value());
    CHECK(*refusal == "API version mismatch: plugin built for API 2.0, host supports API 1.0 (major must be 1)");
}

TEST_CASE("api version: a plugin of a lower major is refused, even with an older minor") {
    const auto refusal = api_version_refusal({1, 0}, {2, 3});
    REQUIRE(refusal.has_value());
    CHECK(*refusal == "API version mismatch: plugin built for API 1.0, host supports API 2.3 (major must be 2)");
}

TEST_CASE("api version: the major check comes before the minor check") {
    const auto refusal = api_version_refusal({0, 9}, {1, 0});
    REQUIRE(refusal.has_value());
    CHECK(*refusal == "API version mismatch: plugin built for API 0.9, host supports API 1.0 (major must be 1)");
}

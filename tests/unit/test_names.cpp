// "Did you mean" suggestions: close names found, nearest first, at most three, far names left out.
#include "cli/cli_context.hpp"

#include <catch2/catch.hpp>

using trellis::cli::nearest_names;
using Names = std::vector<std::string>;

TEST_CASE("names: a close typo is found") {
    CHECK(nearest_names("fixture-dta", {"fixture-data", "other-plugin"}) == Names{"fixture-data"});
    CHECK(nearest_names("data.cvs", {"data.csv", "train.linear"}) == Names{"data.csv"});
}

TEST_CASE("names: suggestions are ordered by distance, then by name") {
    // distances from "data.csv": data.csx 1, data.tsv 1, data.cs 1, dta.csvv 2
    CHECK(nearest_names("data.csv", {"dta.csvv", "data.tsv", "data.csx"}) == Names{"data.csx", "data.tsv", "dta.csvv"});
    CHECK(nearest_names("abcd", {"abxy", "abcx"}) == Names{"abcx", "abxy"});
}

TEST_CASE("names: at most three suggestions") {
    CHECK(nearest_names("stage", {"stag", "stages", "stake", "state", "stave"}) ==
          Names{"stag", "stages", "stake"});
}

TEST_CASE("names: far names are not suggested") {
    CHECK(nearest_names("csv", {"linear", "monitor.drift", "govern.gate"}).empty());
    // Short words allow two edits, longer ones a third of their length.
    CHECK(nearest_names("abc", {"xyz"}).empty());
    CHECK(nearest_names("abc", {"axy"}) == Names{"axy"});
    CHECK(nearest_names("train.linear_regression", {"train.linear_regresion", "train.logistic"}) ==
          Names{"train.linear_regresion"});
    CHECK(nearest_names("anything", {}).empty());
}

TEST_CASE("names: an exact match comes first") {
    CHECK(nearest_names("data.csv", {"data.csx", "data.csv"}) == Names{"data.csv", "data.csx"});
}

// The built-in data.split plugin, loaded from the build's plugin folder and run through the host API.
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <trellis/predictions.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::open_plugin;
using trellis::test::breast_cancer;

namespace {

std::shared_ptr<trellis::core::PluginLibrary> split_plugin() {
    static const auto plugin = open_plugin("data_split.so");
    return plugin;
}

// Rows 0..n-1: id = row, value = row / 2, label = "odd"/"even", with a null label every 10th row.
trellis::Table numbered(size_t n) {
    Column id("id", ColumnType::Int64), value("value", ColumnType::Float64), label("label", ColumnType::String);
    for (size_t i = 0; i < n; ++i) {
        id.append_int(static_cast<int64_t>(i));
        value.append_float(static_cast<double>(i) / 2);
        if (i % 10 == 3) label.append_null();
        else label.append_string(i % 2 ? "odd" : "even");
    }
    trellis::Table table;
    table.add_column(std::move(id));
    table.add_column(std::move(value));
    table.add_column(std::move(label));
    return table;
}

struct Split {
    trellis::core::StageOutcome outcome;
    std::vector<uint8_t> train_bytes, test_bytes;
    trellis::Table train, test;
};

Split split(const trellis::Table& table, const nlohmann::json& config) {
    StageRun run(split_plugin(), "data.split", config);
    run.set_input("table", trellis::ArtifactType::Table, trellis::serialize(table));
    Split out{run.invoke(), {}, {}, {}, {}};
    if (out.outcome.ok()) {
        const auto train = run.output("train"), test = run.output("test");
        out.train_bytes.assign(train.begin(), train.end());
        out.test_bytes.assign(test.begin(), test.end());
        out.train = trellis::deserialize_table(train);
        out.test = trellis::deserialize_table(test);
    }
    return out;
}

std::vector<int64_t> ids(const trellis::Table& table) {
    std::vector<int64_t> out;
    const Column& id = table.column("id");
    for (size_t i = 0; i < id.size(); ++i) out.push_back(id.int_at(i));
    return out;
}

} // namespace

TEST_CASE("data.split: sizes follow test_fraction, columns are kept") {
    const auto result = split(numbered(100), {{"test_fraction", 0.25}});
    REQUIRE(result.outcome.message == "");
    CHECK(result.train.num_rows() == 75);
    CHECK(result.test.num_rows() == 25);
    CHECK(result.train.column_names() == std::vector<std::string>{"id", "value", "label"});
    CHECK(result.test.column("label").type() == ColumnType::String);

    const auto defaults = split(numbered(10), nlohmann::json::object()); // test_fraction 0.2
    REQUIRE(defaults.outcome.ok());
    CHECK(defaults.test.num_rows() == 2);
    CHECK(split(numbered(10), {{"test_fraction", 0.25}}).test.num_rows() == 3); // round(2.5) = 3
}

TEST_CASE("data.split: every row lands in exactly one part, in its original order, values intact") {
    const trellis::Table table = numbered(200);
    const auto result = split(table, {{"test_fraction", 0.3}, {"seed", 5}});
    REQUIRE(result.outcome.ok());
    const auto train = ids(result.train), test = ids(result.test);
    CHECK(std::is_sorted(train.begin(), train.end()));
    CHECK(std::is_sorted(test.begin(), test.end()));
    std::vector<int64_t> all = train;
    all.insert(all.end(), test.begin(), test.end());
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expected(200);
    for (size_t i = 0; i < 200; ++i) expected[i] = static_cast<int64_t>(i);
    CHECK(all == expected);
    for (const auto* part : {&result.train, &result.test}) {
        for (size_t r = 0; r < part->num_rows(); ++r) {
            const auto id = static_cast<size_t>(part->column("id").int_at(r));
            CHECK(part->column("value").float_at(r) == static_cast<double>(id) / 2);
            CHECK(part->column("label").is_null(r) == (id % 10 == 3));
            if (id % 10 != 3) CHECK(part->column("label").string_at(r) == (id % 2 ? "odd" : "even"));
        }
    }
}

TEST_CASE("data.split: the same seed gives the same bytes, another seed another split") {
    const trellis::Table table = numbered(100);
    const auto a = split(table, {{"seed", 7}});
    const auto b = split(table, {{"seed", 7}});
    const auto c = split(table, {{"seed", 8}});
    REQUIRE((a.outcome.ok() && b.outcome.ok() && c.outcome.ok()));
    CHECK(a.train_bytes == b.train_bytes);
    CHECK(a.test_bytes == b.test_bytes);
    CHECK(a.test_bytes != c.test_bytes);
    CHECK(ids(a.test) != ids(c.test));
    // The shuffle actually shuffles: the held-out rows are not simply the last ones.
    CHECK(ids(a.test).front() < 80);
}

TEST_CASE("data.split: shuffle = false holds out the last rows") {
    const auto result = split(numbered(20), {{"shuffle", false}, {"test_fraction", 0.25}});
    REQUIRE(result.outcome.ok());
    CHECK(ids(result.test) == std::vector<int64_t>{15, 16, 17, 18, 19});
    CHECK(ids(result.train).back() == 14);
}

TEST_CASE("data.split: stratify keeps the class proportions of breast_cancer") {
    const trellis::Table table = breast_cancer();
    const auto result = split(table, {{"test_fraction", 0.25}, {"seed", 7}, {"stratify", "malignant"}});
    REQUIRE(result.outcome.message == "");
    const auto count_malignant = [](const trellis::Table& t) {
        int64_t sum = 0;
        for (size_t i = 0; i < t.num_rows(); ++i) sum += t.column("malignant").int_at(i);
        return sum;
    };
    // 212 malignant, 357 benign: round(212 * 0.25) = 53 and round(357 * 0.25) = 89 held out.
    CHECK(result.test.num_rows() == 53 + 89);
    CHECK(count_malignant(result.test) == 53);
    CHECK(result.train.num_rows() == 569 - 142);
    CHECK(count_malignant(result.train) == 212 - 53);
    CHECK(result.train.num_columns() == 31);

}

TEST_CASE("data.split: stratify without shuffle holds out the last rows of each class") {
    // Classes a (rows 0-11) and b (rows 12-19); 0.25 holds out round(3) = 3 of a and round(2) = 2 of b.
    Column id("id", ColumnType::Int64), cls("cls", ColumnType::String);
    for (int64_t i = 0; i < 20; ++i) {
        id.append_int(i);
        cls.append_string(i < 12 ? "a" : "b");
    }
    trellis::Table table;
    table.add_column(std::move(id));
    table.add_column(std::move(cls));
    const auto result = split(table, {{"shuffle", false}, {"test_fraction", 0.25}, {"stratify", "cls"}});
    REQUIRE(result.outcome.message == "");
    CHECK(ids(result.test) == std::vector<int64_t>{9, 10, 11, 18, 19});

    // Shuffled, each class still gives exactly its share.
    const auto shuffled = split(table, {{"test_fraction", 0.25}, {"stratify", "cls"}, {"seed", 3}});
    REQUIRE(shuffled.outcome.ok());
    const auto test = ids(shuffled.test);
    CHECK(std::count_if(test.begin(), test.end(), [](int64_t i) { return i < 12; }) == 3);
    CHECK(test.size() == 5);
}

TEST_CASE("data.split: many small classes still hold out round(n * fraction) rows in all") {
    // 10 classes of 3 rows at 0.2: each class alone would round 0.6 up to 1 (10 of 30 rows, 33%).
    Column cls("cls", ColumnType::Int64), id("id", ColumnType::Int64);
    for (int64_t i = 0; i < 30; ++i) {
        cls.append_int(i % 10);
        id.append_int(i);
    }
    trellis::Table table;
    table.add_column(std::move(id));
    table.add_column(std::move(cls));
    const auto result = split(table, {{"test_fraction", 0.2}, {"stratify", "cls"}, {"seed", 1}});
    CHECK(result.test.num_rows() == 6);
    CHECK(result.train.num_rows() == 24);
    // Ties in the remainders go to the classes seen first: classes 0..5 give one test row each.
    std::vector<int64_t> classes;
    const auto& test_cls = result.test.column("cls");
    for (size_t r = 0; r < result.test.num_rows(); ++r) classes.push_back(test_cls.int_at(r));
    std::sort(classes.begin(), classes.end());
    CHECK(classes == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("data.split: errors name the key, column or row at fault") {
    const trellis::Table table = numbered(30);
    for (double bad : {0.0, 1.0, -0.5, 1.5}) {
        const auto result = split(table, {{"test_fraction", bad}});
        CHECK(result.outcome.status == TRELLIS_ERR_INVALID);
        CHECK_THAT(result.outcome.message, Catch::Contains("test_fraction"));
    }
    const auto missing = split(table, {{"stratify", "nope"}});
    CHECK(missing.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(missing.outcome.message, Catch::Contains("'nope'"));

    const auto null_class = split(table, {{"stratify", "label"}});
    CHECK(null_class.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(null_class.outcome.message, Catch::Contains("'label'") && Catch::Contains("row 3"));

    const auto empty = split(trellis::Table{}, nlohmann::json::object());
    CHECK(empty.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(empty.outcome.message, Catch::Contains("no rows"));

    const auto no_test = split(numbered(3), {{"test_fraction", 0.1}}); // round(0.3) = 0
    CHECK(no_test.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(no_test.outcome.message, Catch::Contains("test table empty"));

    const auto no_train = split(numbered(1), {{"test_fraction", 0.6}}); // round(0.6) = 1 of 1
    CHECK(no_train.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(no_train.outcome.message, Catch::Contains("train table empty"));
}

namespace {

// How many rows of each class of `column` (as label text) a table holds.
std::map<std::string, size_t> class_counts(const trellis::Table& table, const std::string& column) {
    std::map<std::string, size_t> out;
    for (size_t i = 0; i < table.num_rows(); ++i) ++out[trellis::label_text(table.column(column), i)];
    return out;
}

} // namespace

TEST_CASE("data.split: stratify keeps three int classes (wine) and three string classes (iris)") {
    // wine: 59, 71, 48 rows at 0.25 -> floor 14, 17, 12 (43) of round(44.5) = 45; the two largest
    // remainders (.75, .75) give one more each.
    const auto wine = split(trellis::test::wine(), {{"test_fraction", 0.25}, {"seed", 3}, {"stratify", "cultivar"}});
    REQUIRE(wine.outcome.message == "");
    CHECK(class_counts(wine.test, "cultivar") == std::map<std::string, size_t>{{"0", 15}, {"1", 18}, {"2", 12}});
    CHECK(class_counts(wine.train, "cultivar") == std::map<std::string, size_t>{{"0", 44}, {"1", 53}, {"2", 36}});

    const auto iris = split(trellis::test::iris(), {{"test_fraction", 0.2}, {"seed", 3}, {"stratify", "species"}});
    REQUIRE(iris.outcome.message == "");
    CHECK(class_counts(iris.test, "species") ==
          std::map<std::string, size_t>{{"setosa", 10}, {"versicolor", 10}, {"virginica", 10}});
    CHECK(iris.train.num_rows() == 120);
}

TEST_CASE("data.split: stratify on a bool column, and on a class too small for both parts") {
    Column id("id", ColumnType::Int64), flag("flag", ColumnType::Bool);
    for (int64_t i = 0; i < 40; ++i) {
        id.append_int(i);
        flag.append_bool(i % 4 == 0); // 10 true, 30 false
    }
    trellis::Table table;
    table.add_column(std::move(id));
    table.add_column(std::move(flag));
    const auto result = split(table, {{"test_fraction", 0.2}, {"stratify", "flag"}});
    REQUIRE(result.outcome.message == "");
    CHECK(class_counts(result.test, "flag") == std::map<std::string, size_t>{{"0", 6}, {"1", 2}});

    // A class of one row lands in one part only; the split still works (and warns).
    Column cls("cls", ColumnType::String), n("id", ColumnType::Int64);
    for (int64_t i = 0; i < 11; ++i) {
        n.append_int(i);
        cls.append_string(i == 10 ? "rare" : "common");
    }
    trellis::Table rare;
    rare.add_column(std::move(n));
    rare.add_column(std::move(cls));
    const auto small = split(rare, {{"test_fraction", 0.2}, {"stratify", "cls"}});
    REQUIRE(small.outcome.message == "");
    CHECK(small.test.num_rows() + small.train.num_rows() == 11);
    CHECK(class_counts(small.train, "cls").count("rare") == 1);
}

TEST_CASE("data.split: the stratified 0/1 split is the documented one, so cached pipelines keep their split") {
    // README.md's algorithm written out independently: strata in order of first appearance, one
    // splitmix64 generator, a Fisher-Yates shuffle per stratum, the first n_test rows held out.
    const trellis::Table& table = breast_cancer();
    const Column& label = table.column("malignant");
    std::vector<std::vector<size_t>> strata;
    std::vector<int64_t> seen;
    for (size_t row = 0; row < table.num_rows(); ++row) {
        const auto at = std::find(seen.begin(), seen.end(), label.int_at(row));
        if (at == seen.end()) {
            seen.push_back(label.int_at(row));
            strata.emplace_back();
        }
        strata[static_cast<size_t>(std::find(seen.begin(), seen.end(), label.int_at(row)) - seen.begin())].push_back(row);
    }
    uint64_t state = 42;
    const auto next = [&] {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    };
    const auto below = [&](uint64_t bound) {
        for (;;) {
            const uint64_t r = next();
            if (r >= (0 - bound) % bound) return r % bound;
        }
    };
    std::vector<size_t> expected;
    const size_t test_counts[2] = {53, 89}; // 212 malignant (seen first) and 357 benign at 0.25: 53 + 89 = round(142.25)
    for (size_t s = 0; s < 2; ++s) {
        std::vector<size_t> order = strata[s];
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[below(i)]);
        expected.insert(expected.end(), order.begin(), order.begin() + static_cast<std::ptrdiff_t>(test_counts[s]));
    }
    std::sort(expected.begin(), expected.end());

    const auto result = split(table, {{"test_fraction", 0.25}, {"seed", 42}, {"stratify", "malignant"}});
    REQUIRE(result.outcome.ok());
    REQUIRE(result.test.num_rows() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
        CHECK(result.test.column("mean_radius").float_at(i) == table.column("mean_radius").float_at(expected[i]));
}

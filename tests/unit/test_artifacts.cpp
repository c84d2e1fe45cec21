// The trellis serialisation: exact bytes, round trips, determinism, and FormatError (never a crash)
// on malformed or hostile input.
#include <trellis/artifacts.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

using namespace trellis;
using Catch::Matchers::Contains;
using Bytes = std::vector<uint8_t>;

namespace {

// Builds expected blobs byte by byte, independently of the serialiser under test.
struct Blob {
    Bytes bytes;
    explicit Blob(std::string_view magic) {
        raw(std::string(magic) + std::string(1, '\0'));
        u64(1); // version 1, reserved 0
    }
    Blob& u64(uint64_t value) {
        for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
        return *this;
    }
    Blob& raw(std::string_view text) {
        bytes.insert(bytes.end(), text.begin(), text.end());
        return *this;
    }
    Blob& pad() {
        while (bytes.size() % 8) bytes.push_back(0);
        return *this;
    }
    Blob& str(std::string_view text) { return u64(text.size()).raw(text).pad(); }
};

void put_u64(Bytes& bytes, size_t pos, uint64_t value) {
    for (int i = 0; i < 8; ++i) bytes.at(pos + i) = static_cast<uint8_t>(value >> (8 * i));
}

Table mixed_table() {
    Column ints("id", ColumnType::Int64), floats("score", ColumnType::Float64);
    Column flags("ok", ColumnType::Bool), names("name", ColumnType::String);
    for (int i = 0; i < 11; ++i) {
        if (i % 4 == 1) {
            ints.append_null();
            flags.append_null();
        } else {
            ints.append_int(i * 1000 - 5);
            flags.append_bool(i % 3 == 0);
        }
        floats.append_float(i == 5 ? std::numeric_limits<double>::quiet_NaN() : i * 0.25);
        if (i == 7) names.append_null();
        else names.append_string(std::string(static_cast<size_t>(i), static_cast<char>('a' + i)));
    }
    Table table;
    table.add_column(std::move(ints));
    table.add_column(std::move(floats));
    table.add_column(std::move(flags));
    table.add_column(std::move(names));
    return table;
}

Model sample_model() {
    return Model{"linear", {{"x", ColumnType::Float64}, {"city", ColumnType::String}}, {0, 1, 2, 0xFF, 0, 7}};
}

Metrics sample_metrics() {
    Metrics metrics;
    metrics.values["rmse"] = 0.125;
    metrics.values["accuracy"] = 0.9;
    metrics.values["nan"] = std::numeric_limits<double>::quiet_NaN();
    metrics.values["neg"] = -1e300;
    return metrics;
}

template <class T> T round_trip(const T& value) {
    const Bytes bytes = ArtifactTraits<T>::serialize(value);
    CHECK(bytes.size() % 8 == 0);
    return ArtifactTraits<T>::deserialize(bytes);
}

// Every strict prefix of a valid blob is malformed.
template <class T> void check_every_prefix_fails(const Bytes& blob) {
    for (size_t n = 0; n < blob.size(); ++n) {
        INFO("prefix of " << n << " of " << blob.size() << " bytes");
        CHECK_THROWS_AS(ArtifactTraits<T>::deserialize(std::span<const uint8_t>(blob.data(), n)), FormatError);
    }
}

// Flips bits everywhere: each result is either a FormatError or a value that serialises back to
// exactly the mutated bytes (bytes and values correspond one to one). Anything else fails.
template <class T> void check_mutations(const Bytes& blob) {
    size_t accepted = 0;
    for (size_t i = 0; i < blob.size(); ++i) {
        for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
            Bytes copy = blob;
            copy[i] ^= mask;
            try {
                const T value = ArtifactTraits<T>::deserialize(copy);
                ++accepted;
                INFO("byte " << i << " mask " << int(mask));
                CHECK(ArtifactTraits<T>::serialize(value) == copy);
            } catch (const FormatError&) {
            }
        }
    }
    CHECK(accepted < blob.size() * 3);
}

} // namespace

TEST_CASE("artifact type names and ABI values", "[artifacts]") {
    CHECK(static_cast<uint32_t>(ArtifactTraits<Table>::type) == TRELLIS_ARTIFACT_TABLE);
    CHECK(static_cast<uint32_t>(ArtifactTraits<DirectoryRef>::type) == TRELLIS_ARTIFACT_DIRECTORY);
    const char* names[] = {"table", "model", "metrics", "report", "file", "directory"};
    for (uint32_t code = 1; code <= 6; ++code) {
        CHECK(to_string(static_cast<ArtifactType>(code)) == names[code - 1]);
        CHECK(artifact_type_from_string(names[code - 1]) == static_cast<ArtifactType>(code));
    }
    CHECK_FALSE(artifact_type_from_string("Table").has_value());
}

TEST_CASE("exact bytes of small artifacts", "[artifacts][format]") {
    CHECK(serialize(Report{"{}"}) == Blob("TRLSREP").str("{}").bytes);
    CHECK(serialize(FileRef{"/data/in.csv"}) == Blob("TRLSFIL").str("/data/in.csv").bytes);
    CHECK(serialize(DirectoryRef{""}) == Blob("TRLSDIR").u64(0).bytes);

    Metrics metrics;
    metrics.values["b"] = 2.0;
    metrics.values["a"] = 1.0;
    CHECK(serialize(metrics) ==
          Blob("TRLSMET").u64(2).str("a").u64(0x3FF0000000000000).str("b").u64(0x4000000000000000).bytes);

    const Model model{"lin", {{"x", ColumnType::Float64}}, {9, 8, 7}};
    CHECK(serialize(model) == Blob("TRLSMOD").str("lin").u64(1).str("x").u64(2).str("\x09\x08\x07").bytes);

    Column a("a", ColumnType::Int64);
    a.append_int(1);
    a.append_null();
    Table ints;
    ints.add_column(a);
    // header, rows, columns, name, type, null count, validity (padded), data
    const Bytes expected_ints = Blob("TRLSTAB").u64(2).u64(1).str("a").u64(1).u64(1).raw("\x01").pad().u64(1).u64(0).bytes;
    CHECK(expected_ints.size() == 88);
    CHECK(serialize(ints) == expected_ints);

    Column s("s", ColumnType::String);
    s.append_string("ab");
    s.append_string("c");
    Table strings;
    strings.add_column(s);
    // no nulls: no validity bitmap; offsets then the characters, padded
    CHECK(serialize(strings) == Blob("TRLSTAB").u64(2).u64(1).str("s").u64(4).u64(0).u64(0).u64(2).u64(3).raw("abc").pad().bytes);

    Column flags("f", ColumnType::Bool);
    for (bool v : {true, false, true, true, false, false, false, false, true}) flags.append_bool(v);
    Table bools;
    bools.add_column(flags);
    CHECK(serialize(bools) == Blob("TRLSTAB").u64(9).u64(1).str("f").u64(3).u64(0).raw("\x0D\x01").pad().bytes);

    CHECK(serialize(Table()) == Blob("TRLSTAB").u64(0).u64(0).bytes);
}

TEST_CASE("every artifact type round-trips", "[artifacts]") {
    const Table table = mixed_table();
    const Table back = round_trip(table);
    CHECK(back == table);
    CHECK(back.column_names() == std::vector<std::string>{"id", "score", "ok", "name"});
    CHECK(back.column("id").int_at(8) == 7995);
    CHECK(back.column("id").is_null(5));
    CHECK(back.column("id").null_count() == 3);
    CHECK(std::isnan(back.column("score").float_at(5)));
    CHECK(back.column("ok").bool_at(6));
    CHECK_FALSE(back.column("ok").bool_at(8));
    CHECK(back.column("ok").is_null(9));
    CHECK(back.column("name").is_null(7));
    CHECK(back.column("name").string_at(3) == "ddd");
    CHECK(back.column("score").validity_bits() == nullptr);

    Column empty_strings("s", ColumnType::String);
    Table no_rows;
    no_rows.add_column(empty_strings);
    CHECK(round_trip(no_rows) == no_rows);
    CHECK(round_trip(Table()) == Table());

    CHECK(round_trip(sample_model()) == sample_model());
    CHECK(round_trip(Model{}) == Model{});
    CHECK(round_trip(sample_metrics()) == sample_metrics());
    CHECK(round_trip(Metrics{}) == Metrics{});
    const Report report{R"({"rows": 11, "note": "caf\u00e9"})"};
    CHECK(round_trip(report) == report);
    CHECK(round_trip(FileRef{"/tmp/x y/\xC3\xA9.csv"}) == FileRef{"/tmp/x y/\xC3\xA9.csv"});
    CHECK(round_trip(DirectoryRef{"out/models"}) == DirectoryRef{"out/models"});
}

TEST_CASE("serialisation is deterministic", "[artifacts]") {
    CHECK(serialize(mixed_table()) == serialize(mixed_table()));
    const Table table = mixed_table();
    CHECK(serialize(table) == serialize(table));
    CHECK(serialize(round_trip(table)) == serialize(table));

    Metrics forward, backward;
    // std::string("m").append(...) rather than "m" + ...: g++ 12 -O3 warns falsely (-Wrestrict) on the latter.
    for (int i = 0; i < 20; ++i) forward.values[std::string("m").append(std::to_string(i))] = i;
    for (int i = 19; i >= 0; --i) backward.values[std::string("m").append(std::to_string(i))] = i;
    CHECK(serialize(forward) == serialize(backward));
    CHECK(serialize(sample_model()) == serialize(sample_model()));

    // A column whose bitmap was materialised by a null differs only where the values differ.
    Column a("a", ColumnType::Int64), b("a", ColumnType::Int64);
    a.append_int(1);
    a.append_int(2);
    b.append_int(1);
    b.append_null();
    Table ta, tb;
    ta.add_column(a);
    tb.add_column(b);
    CHECK(serialize(ta).size() == 80); // no validity bitmap at all
    CHECK(serialize(tb).size() == 88);
}

TEST_CASE("malformed headers give FormatError", "[artifacts][hostile]") {
    const Bytes empty;
    CHECK_THROWS_AS(deserialize_table(empty), FormatError);
    CHECK_THROWS_WITH(deserialize_model(empty), Contains("empty input"));
    CHECK_THROWS_AS(deserialize_metrics(empty), FormatError);
    CHECK_THROWS_AS(deserialize_report(empty), FormatError);
    CHECK_THROWS_AS(deserialize_file(empty), FormatError);
    CHECK_THROWS_AS(deserialize_directory(empty), FormatError);

    Bytes blob = serialize(Report{"{}"});
    Bytes bad = blob;
    bad[0] = 'X';
    CHECK_THROWS_WITH(deserialize_report(bad), Contains("wrong magic"));
    CHECK_THROWS_WITH(deserialize_table(blob), Contains("trellis report") && Contains("table"));
    bad = blob;
    bad[8] = 2;
    CHECK_THROWS_WITH(deserialize_report(bad), Contains("unsupported format version 2"));
    bad = blob;
    bad[12] = 1;
    CHECK_THROWS_WITH(deserialize_report(bad), Contains("reserved"));
    bad = blob;
    bad.push_back(0);
    CHECK_THROWS_WITH(deserialize_report(bad), Contains("1 trailing bytes"));
    bad = blob;
    bad[26] = '!'; // padding after the text
    CHECK_THROWS_WITH(deserialize_report(bad), Contains("non-zero padding"));
}

TEST_CASE("every truncation of a valid blob gives FormatError", "[artifacts][hostile]") {
    check_every_prefix_fails<Table>(serialize(mixed_table()));
    check_every_prefix_fails<Model>(serialize(sample_model()));
    check_every_prefix_fails<Metrics>(serialize(sample_metrics()));
    check_every_prefix_fails<Report>(serialize(Report{"{\"a\": 1}"}));
    check_every_prefix_fails<FileRef>(serialize(FileRef{"a.csv"}));
    check_every_prefix_fails<DirectoryRef>(serialize(DirectoryRef{"dir"}));
}

TEST_CASE("corrupted lengths and counts give FormatError", "[artifacts][hostile]") {
    // Layout of this blob: rows @16, columns @24, name length @32, type @48, nulls @56,
    // offsets @64 (0, 2, 3), characters @88.
    Column s("s", ColumnType::String);
    s.append_string("ab");
    s.append_string("c");
    Table strings;
    strings.add_column(s);
    const Bytes blob = serialize(strings);
    REQUIRE(blob.size() == 96);
    const auto patched = [&](size_t pos, uint64_t value) {
        Bytes copy = blob;
        put_u64(copy, pos, value);
        return copy;
    };
    CHECK_THROWS_WITH(deserialize_table(patched(32, UINT64_MAX)), Contains("truncated column name"));
    CHECK_THROWS_WITH(deserialize_table(patched(32, 1ull << 40)), Contains("truncated"));
    CHECK_THROWS_WITH(deserialize_table(patched(16, 1ull << 60)), Contains("truncated column 's' offsets"));
    CHECK_THROWS_WITH(deserialize_table(patched(16, UINT64_MAX)), Contains("too large"));
    CHECK_THROWS_AS(deserialize_table(patched(16, 3)), FormatError);
    CHECK_THROWS_AS(deserialize_table(patched(24, UINT64_MAX)), FormatError);
    CHECK_THROWS_WITH(deserialize_table(patched(48, 9)), Contains("unknown type 9"));
    CHECK_THROWS_WITH(deserialize_table(patched(56, 3)), Contains("more nulls than rows"));
    CHECK_THROWS_WITH(deserialize_table(patched(72, 4)), Contains("offsets decrease at row 1"));
    CHECK_THROWS_WITH(deserialize_table(patched(80, UINT64_MAX)), Contains("offsets decrease"));
    CHECK_THROWS_WITH(deserialize_table(patched(64, 1)), Contains("do not start at 0"));
    CHECK_THROWS_WITH(deserialize_table(patched(80, 1ull << 50)), Contains("truncated column 's' string data"));

    Bytes no_columns = serialize(Table());
    put_u64(no_columns, 16, 5);
    CHECK_THROWS_WITH(deserialize_table(no_columns), Contains("without columns"));

    Bytes model = serialize(sample_model());
    put_u64(model, 32, UINT64_MAX); // field count
    CHECK_THROWS_AS(deserialize_model(model), FormatError);
    Bytes report = serialize(Report{"{}"});
    put_u64(report, 16, UINT64_MAX);
    CHECK_THROWS_WITH(deserialize_report(report), Contains("truncated JSON text"));
    Bytes metrics = serialize(sample_metrics());
    put_u64(metrics, 16, 1ull << 62);
    CHECK_THROWS_AS(deserialize_metrics(metrics), FormatError);
}

TEST_CASE("non-canonical encodings give FormatError", "[artifacts][hostile]") {
    // int column [1, null]: validity byte @64, data @72 and @80.
    Column a("a", ColumnType::Int64);
    a.append_int(1);
    a.append_null();
    Table ints;
    ints.add_column(a);
    const Bytes blob = serialize(ints);
    Bytes bad = blob;
    put_u64(bad, 80, 5);
    CHECK_THROWS_WITH(deserialize_table(bad), Contains("value under null row 1"));
    bad = blob;
    bad[64] = 0x03;
    CHECK_THROWS_WITH(deserialize_table(bad), Contains("null count does not match"));
    bad = blob;
    bad[64] = 0x05;
    CHECK_THROWS_WITH(deserialize_table(bad), Contains("set bits past the end"));

    Column x("x", ColumnType::Int64), y("y", ColumnType::Int64);
    x.append_int(1);
    y.append_int(2);
    Table two;
    two.add_column(x);
    two.add_column(y);
    bad = serialize(two);
    REQUIRE(bad[80] == 'y'); // second column's name
    bad[80] = 'x';
    CHECK_THROWS_WITH(deserialize_table(bad), Contains("duplicate column 'x'"));

    Metrics metrics;
    metrics.values["a"] = 1;
    metrics.values["b"] = 2;
    bad = serialize(metrics);
    REQUIRE(bad[56] == 'b');
    bad[56] = 'a';
    CHECK_THROWS_WITH(deserialize_metrics(bad), Contains("out of order or repeated"));
    bad[56] = '0';
    CHECK_THROWS_AS(deserialize_metrics(bad), FormatError);

    Bytes model = serialize(Model{"lin", {{"x", ColumnType::Float64}}, {}});
    put_u64(model, 56, 0); // field type
    CHECK_THROWS_WITH(deserialize_model(model), Contains("field 'x' has unknown type 0"));
}

TEST_CASE("bit flips anywhere never crash and never alias", "[artifacts][hostile]") {
    check_mutations<Table>(serialize(mixed_table()));
    check_mutations<Model>(serialize(sample_model()));
    check_mutations<Metrics>(serialize(sample_metrics()));
    check_mutations<Report>(serialize(Report{"[1,2]"}));
    check_mutations<FileRef>(serialize(FileRef{"f"}));
    check_mutations<DirectoryRef>(serialize(DirectoryRef{"d"}));
}

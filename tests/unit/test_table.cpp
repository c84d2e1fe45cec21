// trellis::Column, trellis::Table and export_arrow(): values, nulls, the Arrow buffers underneath
// and the ownership rules of the Arrow C Data Interface.
#include <trellis/table.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using trellis::Table;
using Catch::Matchers::Contains;

namespace {

Table sample_table() {
    Column ints("id", ColumnType::Int64);
    ints.append_int(7);
    ints.append_null();
    ints.append_int(-3);
    Column floats("score", ColumnType::Float64);
    floats.append_float(0.5);
    floats.append_float(std::numeric_limits<double>::quiet_NaN());
    floats.append_float(-2.25);
    Column flags("ok", ColumnType::Bool);
    flags.append_bool(true);
    flags.append_null();
    flags.append_bool(false);
    Column names("name", ColumnType::String);
    names.append_string("ab");
    names.append_null();
    names.append_string("cde");
    Table table;
    table.add_column(std::move(ints));
    table.add_column(std::move(floats));
    table.add_column(std::move(flags));
    table.add_column(std::move(names));
    return table;
}

} // namespace

TEST_CASE("column type names round-trip", "[table]") {
    CHECK(trellis::to_string(ColumnType::Int64) == "int");
    CHECK(trellis::to_string(ColumnType::Float64) == "float");
    CHECK(trellis::to_string(ColumnType::Bool) == "bool");
    CHECK(trellis::to_string(ColumnType::String) == "string");
    for (ColumnType type : {ColumnType::Int64, ColumnType::Float64, ColumnType::Bool, ColumnType::String})
        CHECK(trellis::column_type_from_string(trellis::to_string(type)) == type);
    CHECK_FALSE(trellis::column_type_from_string("double").has_value());
    CHECK_FALSE(trellis::column_type_from_string("").has_value());
}

TEST_CASE("int column with nulls keeps Arrow buffers", "[table]") {
    Column c("age", ColumnType::Int64);
    c.append_int(10);
    c.append_int(20);
    CHECK(c.null_count() == 0);
    CHECK(c.validity_bits() == nullptr); // no bitmap until the first null
    c.append_null();
    for (int i = 0; i < 7; ++i) c.append_int(i); // 10 rows: the bitmap needs a second byte
    REQUIRE(c.size() == 10);
    CHECK(c.null_count() == 1);
    CHECK(c.name() == "age");
    CHECK(c.type() == ColumnType::Int64);
    CHECK(c.int_at(0) == 10);
    CHECK(c.int_at(1) == 20);
    CHECK(c.is_null(2));
    CHECK(c.int_at(2) == 0);
    CHECK_FALSE(c.is_null(9));
    CHECK(c.int_at(9) == 6);
    REQUIRE(c.validity_bits() != nullptr);
    CHECK(c.validity_bits()[0] == 0xFB); // rows 0..7 valid except row 2
    CHECK(c.validity_bits()[1] == 0x03); // rows 8, 9 valid; unused bits zero
    const auto* data = static_cast<const int64_t*>(c.data_buffer());
    CHECK(data[0] == 10);
    CHECK(data[2] == 0);
    CHECK(c.data_size() == 80);
    CHECK(c.offsets() == nullptr);
}

TEST_CASE("float column holds NaN, infinities and nulls", "[table]") {
    Column c("x", ColumnType::Float64);
    c.reserve(4);
    c.append_float(1.5);
    c.append_null();
    c.append_float(std::numeric_limits<double>::quiet_NaN());
    c.append_float(-std::numeric_limits<double>::infinity());
    CHECK(c.float_at(0) == 1.5);
    CHECK(c.is_null(1));
    CHECK(std::isnan(c.float_at(2)));
    CHECK(c.float_at(3) == -std::numeric_limits<double>::infinity());
    CHECK(c.null_count() == 1);
    CHECK(c.validity_bits()[0] == 0x0D);
}

TEST_CASE("bool column is bit-packed", "[table]") {
    Column c("flag", ColumnType::Bool);
    c.append_bool(true);
    c.append_bool(false);
    c.append_null();
    c.append_bool(true);
    CHECK(c.bool_at(0));
    CHECK_FALSE(c.bool_at(1));
    CHECK(c.is_null(2));
    CHECK_FALSE(c.bool_at(2));
    CHECK(c.bool_at(3));
    CHECK(c.data_size() == 1);
    CHECK(static_cast<const uint8_t*>(c.data_buffer())[0] == 0x09);
    CHECK(c.validity_bits()[0] == 0x0B);
}

TEST_CASE("string column uses large-utf8 offsets", "[table]") {
    Column c("name", ColumnType::String);
    CHECK(c.offsets()[0] == 0);
    c.append_string("hi");
    c.append_null();
    c.append_string("");
    c.append_string("h\xC3\xA9llo");
    REQUIRE(c.size() == 4);
    CHECK(c.string_at(0) == "hi");
    CHECK(c.is_null(1));
    CHECK(c.string_at(1).empty());
    CHECK_FALSE(c.is_null(2));
    CHECK(c.string_at(2).empty());
    CHECK(c.string_at(3) == "h\xC3\xA9llo");
    const int64_t* offsets = c.offsets();
    CHECK(std::vector<int64_t>(offsets, offsets + 5) == std::vector<int64_t>{0, 2, 2, 2, 8});
    CHECK(std::string(static_cast<const char*>(c.data_buffer()), c.data_size()) == "hih\xC3\xA9llo");
    CHECK(c.validity_bits()[0] == 0x0D);
}

TEST_CASE("wrong kind of value or row is an error naming the column", "[table]") {
    Column c("price", ColumnType::Float64);
    CHECK_THROWS_AS(c.append_int(1), std::logic_error);
    CHECK_THROWS_WITH(c.append_int(1), Contains("price") && Contains("float") && Contains("int"));
    CHECK_THROWS_WITH(c.append_string("x"), Contains("price") && Contains("string"));
    CHECK_THROWS_AS(c.append_bool(true), std::logic_error);
    CHECK(c.size() == 0); // a rejected append changes nothing
    c.append_float(2.0);
    CHECK_THROWS_AS(c.float_at(1), std::out_of_range);
    CHECK_THROWS_WITH(c.float_at(1), Contains("price"));
    CHECK_THROWS_AS(c.is_null(1), std::out_of_range);
    CHECK_THROWS_AS(c.int_at(0), std::logic_error);
    CHECK_THROWS_WITH(c.string_at(0), Contains("price") && Contains("float") && Contains("string"));
}

TEST_CASE("table lookups", "[table]") {
    const Table table = sample_table();
    CHECK(table.num_rows() == 3);
    CHECK(table.num_columns() == 4);
    CHECK(table.column_names() == std::vector<std::string>{"id", "score", "ok", "name"});
    CHECK(table.column(1).name() == "score");
    CHECK(table.column("name").string_at(2) == "cde");
    CHECK(table.find("ok") == &table.columns()[2]);
    CHECK(table.find("missing") == nullptr);
    CHECK_THROWS_AS(table.column("missing"), std::out_of_range);
    CHECK_THROWS_WITH(table.column("missing"), "no column 'missing'");
    CHECK_THROWS_AS(table.column(4), std::out_of_range);
    CHECK(Table().num_rows() == 0);
}

TEST_CASE("table rejects duplicate names and ragged columns", "[table]") {
    Table table = sample_table();
    Column again("id", ColumnType::Int64);
    for (int i = 0; i < 3; ++i) again.append_int(i);
    CHECK_THROWS_AS(table.add_column(again), std::invalid_argument);
    CHECK_THROWS_WITH(table.add_column(again), Contains("duplicate column 'id'"));
    Column short_column("extra", ColumnType::Int64);
    short_column.append_int(1);
    CHECK_THROWS_AS(table.add_column(short_column), std::invalid_argument);
    CHECK_THROWS_WITH(table.add_column(short_column), Contains("extra") && Contains("1 rows") && Contains("3"));
    CHECK(table.num_columns() == 4);
}

TEST_CASE("table equality compares names, types, nulls and float bits", "[table]") {
    CHECK(sample_table() == sample_table()); // holds a NaN: compared bit for bit
    Column a("a", ColumnType::Int64), b("b", ColumnType::Int64);
    a.append_int(1);
    b.append_int(1);
    Table ta, tb;
    ta.add_column(a);
    tb.add_column(b);
    CHECK_FALSE(ta == tb);
    Column null_a("a", ColumnType::Int64), zero_a("a", ColumnType::Int64);
    null_a.append_null();
    zero_a.append_int(0);
    CHECK_FALSE(null_a == zero_a); // same buffer value, different validity
    Column pos("z", ColumnType::Float64), neg("z", ColumnType::Float64);
    pos.append_float(0.0);
    neg.append_float(-0.0);
    CHECK_FALSE(pos == neg);
    Column s1("s", ColumnType::String), s2("s", ColumnType::String);
    s1.append_string("ab");
    s1.append_string("c");
    s2.append_string("a");
    s2.append_string("bc");
    CHECK_FALSE(s1 == s2);
}

TEST_CASE("export_arrow exposes the table's own buffers", "[table][arrow]") {
    auto table = std::make_shared<const Table>(sample_table());
    ArrowSchema schema;
    ArrowArray array;
    trellis::export_arrow(table, &schema, &array);

    CHECK(std::strcmp(schema.format, "+s") == 0);
    REQUIRE(schema.n_children == 4);
    REQUIRE(array.n_children == 4);
    CHECK(array.length == 3);
    CHECK(array.null_count == 0);
    CHECK(array.offset == 0);
    REQUIRE(array.n_buffers == 1);
    CHECK(array.buffers[0] == nullptr);
    const char* formats[] = {"l", "g", "b", "U"};
    const char* names[] = {"id", "score", "ok", "name"};
    for (int i = 0; i < 4; ++i) {
        INFO("column " << i);
        CHECK(std::strcmp(schema.children[i]->format, formats[i]) == 0);
        CHECK(std::strcmp(schema.children[i]->name, names[i]) == 0);
        CHECK(schema.children[i]->flags == ARROW_FLAG_NULLABLE);
        CHECK(schema.children[i]->n_children == 0);
        CHECK(array.children[i]->length == 3);
        CHECK(array.children[i]->offset == 0);
        CHECK(array.children[i]->n_children == 0);
    }

    const ArrowArray& ids = *array.children[0];
    CHECK(ids.null_count == 1);
    REQUIRE(ids.n_buffers == 2);
    CHECK(ids.buffers[0] == table->column("id").validity_bits());
    CHECK(ids.buffers[1] == table->column("id").data_buffer());
    CHECK(static_cast<const uint8_t*>(ids.buffers[0])[0] == 0x05);
    CHECK(static_cast<const int64_t*>(ids.buffers[1])[2] == -3);

    const ArrowArray& scores = *array.children[1];
    CHECK(scores.null_count == 0);
    CHECK(scores.buffers[0] == nullptr); // no nulls: no validity buffer
    CHECK(static_cast<const double*>(scores.buffers[1])[2] == -2.25);

    const ArrowArray& oks = *array.children[2];
    CHECK(oks.null_count == 1);
    CHECK(static_cast<const uint8_t*>(oks.buffers[1])[0] == 0x01);

    const ArrowArray& strings = *array.children[3];
    REQUIRE(strings.n_buffers == 3);
    CHECK(strings.null_count == 1);
    CHECK(strings.buffers[1] == table->column("name").offsets());
    CHECK(strings.buffers[2] == table->column("name").data_buffer());
    const auto* offsets = static_cast<const int64_t*>(strings.buffers[1]);
    const auto* chars = static_cast<const char*>(strings.buffers[2]);
    CHECK(std::string(chars + offsets[2], static_cast<size_t>(offsets[3] - offsets[2])) == "cde");

    schema.release(&schema);
    array.release(&array);
    CHECK(schema.release == nullptr);
    CHECK(array.release == nullptr);
}

TEST_CASE("exported structs keep the table alive until released", "[table][arrow]") {
    auto table = std::make_shared<const Table>(sample_table());
    std::weak_ptr<const Table> watch = table;
    ArrowSchema schema;
    ArrowArray array;
    trellis::export_arrow(table, &schema, &array);
    table.reset();
    REQUIRE_FALSE(watch.expired());
    CHECK(static_cast<const int64_t*>(array.children[0]->buffers[1])[0] == 7); // still readable

    schema.release(&schema);
    CHECK(schema.release == nullptr);
    CHECK_FALSE(watch.expired()); // the array still points into it

    // A consumer may move a child out and release it after its parent.
    ArrowArray moved = *array.children[3];
    array.children[3]->release = nullptr;
    array.release(&array);
    CHECK(array.release == nullptr);
    CHECK_FALSE(watch.expired());
    const auto* offsets = static_cast<const int64_t*>(moved.buffers[1]);
    CHECK(offsets[3] == 5);
    moved.release(&moved);
    CHECK(moved.release == nullptr);
    CHECK(watch.expired());
}

TEST_CASE("export of an empty table", "[table][arrow]") {
    auto table = std::make_shared<Table>();
    Column empty("e", ColumnType::Int64);
    table->add_column(empty);
    ArrowSchema schema;
    ArrowArray array;
    trellis::export_arrow(table, &schema, &array);
    CHECK(array.length == 0);
    REQUIRE(array.n_children == 1);
    CHECK(array.children[0]->length == 0);
    CHECK(array.children[0]->buffers[1] != nullptr); // empty but non-NULL, for strict readers
    array.release(&array);
    schema.release(&schema);
    CHECK_THROWS_AS(trellis::export_arrow(nullptr, &schema, &array), std::invalid_argument);
}

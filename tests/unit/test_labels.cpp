// Delayed labels: bodies and files parse into labels or are refused naming the item or line; a
// label sent again replaces the earlier one; the join gives each window row its label, typed.
#include "monitor/labels.hpp"
#include "store/metadata_store.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace trellis;
using namespace trellis::monitor;
using trellis::test::TempDir;
using nlohmann::json;

namespace {

std::filesystem::path write(const TempDir& dir, const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::string refusal(const std::function<void()>& body) {
    try {
        body();
    } catch (const LabelError& e) {
        return e.what();
    }
    return "accepted";
}

} // namespace

TEST_CASE("A labels body: one label, one per row, or one named row", "[labels]") {
    const auto labels = parse_label_body(json::parse(
        R"({"labels": [{"id": "r1", "label": 1}, {"id": "r2", "label": [0, 1.5]}, {"request_id": "r3", "row": 2, "label": "spam"}]})"));
    REQUIRE(labels.size() == 4);
    CHECK(labels[0].request_id == "r1");
    CHECK(labels[0].row == 0);
    CHECK(labels[0].value == 1);
    CHECK(labels[1].row == 0);
    CHECK(labels[2].row == 1);
    CHECK(labels[2].value == 1.5);
    CHECK(labels[3].request_id == "r3");
    CHECK(labels[3].row == 2);
    CHECK(labels[3].value == "spam");
}

TEST_CASE("A bad labels body is refused naming the item", "[labels]") {
    const auto refused = [](const char* text) { return refusal([&] { parse_label_body(json::parse(text)); }); };
    CHECK_THAT(refused(R"([1])"), Catch::StartsWith("the body must be an object with a \"labels\" list"));
    CHECK(refused(R"({"labels": []})") == "labels: is empty");
    CHECK(refused(R"({"labels": [], "x": 1})") == "labels: is empty");
    CHECK(refused(R"({"labels": [{"id": "a", "label": 1}], "x": 1})") == "unknown key 'x' in the body (it holds only \"labels\")");
    CHECK_THAT(refused(R"({"labels": [{"id": "a", "label": 1}, {"label": 1}]})"), Catch::StartsWith("labels[1]: has no \"id\""));
    CHECK(refused(R"({"labels": [{"id": 3, "label": 1}]})") == "labels[0].id: must be a non-empty string");
    CHECK(refused(R"({"labels": [{"id": "a"}]})") == "labels[0]: has no \"label\"");
    CHECK(refused(R"({"labels": [{"id": "a", "label": null}]})") == "labels[0].label: must be a number, a string or true/false, not null");
    CHECK(refused(R"({"labels": [{"id": "a", "label": [1, {}]}]})") ==
          "labels[0].label[1]: must be a number, a string or true/false, not object");
    CHECK(refused(R"({"labels": [{"id": "a", "row": -1, "label": 1}]})") ==
          "labels[0].row: must be a whole number from 0 (the row within the request)");
    CHECK_THAT(refused(R"({"labels": [{"id": "a", "row": 1, "label": [1]}]})"), Catch::StartsWith("labels[0]: \"row\" names one row"));
    CHECK(refused(R"({"labels": [{"id": "a", "lable": 1}]})") == "labels[0]: unknown key 'lable' (keys: id, row, label)");
}

TEST_CASE("Label files: CSV with quotes and rows, JSON Lines, JSON", "[labels]") {
    TempDir dir;
    const auto csv = read_label_file(write(dir, "l.csv", "row,request_id,label\r\n0,\"a,1\",1\r\n2,b,0.25\n0,c,\"yes, really\"\n\n0,d,true\n"));
    REQUIRE(csv.size() == 4);
    CHECK(csv[0].request_id == "a,1");
    CHECK(csv[0].value == 1);
    CHECK(csv[0].value.is_number_integer());
    CHECK(csv[1].row == 2);
    CHECK(csv[1].value == 0.25);
    CHECK(csv[2].value == "yes, really");
    CHECK(csv[3].value == true);

    const auto lines = read_label_file(write(dir, "l.jsonl", "{\"id\": \"a\", \"label\": 1}\n\n{\"id\": \"b\", \"label\": [1, 0]}\n"));
    CHECK(lines.size() == 3);
    const auto body = read_label_file(write(dir, "l.json", R"({"labels": [{"id": "a", "label": "x"}]})"));
    CHECK(body.size() == 1);
}

TEST_CASE("Bad label files are refused naming the file and line", "[labels]") {
    TempDir dir;
    const auto refused = [&](const std::string& name, const std::string& text) {
        const auto path = write(dir, name, text);
        return refusal([&] { read_label_file(path); });
    };
    const std::string at = (dir.path() / "").string();
    CHECK(refused("a.csv", "") == at + "a.csv: is empty; the first line must name request_id and label");
    CHECK(refused("b.csv", "id,truth\n") == at + "b.csv:1: the header must name a request_id (or id) column and a label column");
    CHECK(refused("c.csv", "id,label\na,1\nb\n") == at + "c.csv:3: has 1 fields; the header has 2");
    CHECK(refused("d.csv", "id,label\n,1\n") == at + "d.csv:2: the request id is empty");
    CHECK(refused("e.csv", "id,label\na,\n") == at + "e.csv:2: the label is empty");
    CHECK(refused("f.csv", "id,label,row\na,1,x\n") == at + "f.csv:2: row 'x' is not a whole number from 0");
    CHECK(refused("g.csv", "id,label\n\"a,1\n") == at + "g.csv:2: a quoted field is not closed");
    CHECK(refused("h.csv", "id,label\n\"a\nb\",1\nc,nan\n") == at + "h.csv:4: 'nan' is not a finite number");
    CHECK(refused("i.jsonl", "{\"id\": \"a\", \"label\": 1}\n{oops\n") == at + "i.jsonl:2: is not a JSON object");
    CHECK(refused("j.jsonl", "{\"id\": \"a\"}\n") == at + "j.jsonl:1: has no \"label\"");
    CHECK(refused("k.json", "{\"labels\": 3}") == at + "k.json: labels: must be a list");
    CHECK(refused("l.txt", "a") == at + "l.txt: give labels as .csv, .jsonl (.ndjson) or .json");
    CHECK(refusal([&] { read_label_file(dir.path() / "none.csv"); }) == at + "none.csv: no such file");
}

TEST_CASE("Stored labels replace earlier ones and join to window rows, typed", "[labels]") {
    TempDir dir;
    store::MetadataStore metadata(dir.path());
    auto& db = metadata.db();
    const auto first = store_labels(db, "cancer", {{"r1", 0, 1}, {"r2", 0, 0}, {"r2", 1, 1}}, "alice", 100);
    CHECK(first.inserted == 3);
    CHECK(first.replaced == 0);
    const auto second = store_labels(db, "cancer", {{"r2", 1, 0}, {"r3", 0, 1}}, "bob", 200);
    CHECK(second.inserted == 1);
    CHECK(second.replaced == 1);
    store_labels(db, "other", {{"r1", 0, 7}}, "bob", 200);

    // Rows of the window: r1, r2 (two rows), r4 (no label), then r1 again (a shadow copy).
    const std::vector<std::string> ids{"r1", "r2", "r2", "r4", "r1"};
    const std::vector<int64_t> rows{0, 0, 1, 0, 0};
    const Column labels = window_labels(db, "cancer", ids, rows, "label");
    CHECK(labels.type() == ColumnType::Int64);
    REQUIRE(labels.size() == 5);
    CHECK(labels.int_at(0) == 1);
    CHECK(labels.int_at(1) == 0);
    CHECK(labels.int_at(2) == 0); // replaced by bob's
    CHECK(labels.is_null(3));
    CHECK(labels.int_at(4) == 1);
    CHECK(labels.null_count() == 1);

    store_labels(db, "mixed", {{"a", 0, 1}, {"b", 0, 2.5}}, "bob", 1);
    CHECK(window_labels(db, "mixed", {"a", "b"}, {0, 0}, "y").type() == ColumnType::Float64);
    store_labels(db, "words", {{"a", 0, "cat"}, {"b", 0, 3}}, "bob", 1);
    const Column words = window_labels(db, "words", {"a", "b"}, {0, 0}, "y");
    CHECK(words.type() == ColumnType::String);
    CHECK(words.string_at(1) == "3");
}

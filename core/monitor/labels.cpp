#include "monitor/labels.hpp"

#include <charconv>
#include <cstdint>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace trellis::monitor {
namespace {

using nlohmann::json;

// A label's value as stored: finite numbers, strings and bools; anything else is refused with
// `where` in the message.
json checked_value(const json& value, const std::string& where) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        throw LabelError(where + ": is too large a whole number");
    if (value.is_boolean() || value.is_number_integer()) return value;
    if (value.is_number_float()) {
        if (!std::isfinite(value.get<double>())) throw LabelError(where + ": is not a finite number");
        return value;
    }
    if (value.is_string()) {
        if (value.get_ref<const std::string&>().empty()) throw LabelError(where + ": is an empty string");
        return value;
    }
    throw LabelError(where + ": must be a number, a string or true/false, not " + std::string(value.type_name()));
}

std::string checked_id(const json& item, const std::string& where) {
    const auto found = item.find("id") != item.end() ? item.find("id") : item.find("request_id");
    if (found == item.end()) throw LabelError(where + ": has no \"id\" (the request id the server answered with)");
    if (!found->is_string() || found->get_ref<const std::string&>().empty())
        throw LabelError(where + ".id: must be a non-empty string");
    return found->get<std::string>();
}

// One item of a body or a JSON Lines file, appended to `out`.
void parse_item(const json& item, const std::string& where, std::vector<Label>& out) {
    if (!item.is_object()) throw LabelError(where + ": must be an object such as {\"id\": \"r1\", \"label\": 1}");
    for (const auto& [key, value] : item.items())
        if (key != "id" && key != "request_id" && key != "row" && key != "label")
            throw LabelError(where + ": unknown key '" + key + "' (keys: id, row, label)");
    const std::string id = checked_id(item, where);
    const auto label = item.find("label");
    if (label == item.end()) throw LabelError(where + ": has no \"label\"");
    if (label->is_array()) {
        if (item.contains("row")) throw LabelError(where + ": \"row\" names one row; give a single label with it, not a list");
        if (label->empty()) throw LabelError(where + ".label: is an empty list");
        for (size_t r = 0; r < label->size(); ++r)
            out.push_back({id, static_cast<int64_t>(r), checked_value((*label)[r], where + ".label[" + std::to_string(r) + "]")});
        return;
    }
    int64_t row = 0;
    if (const auto found = item.find("row"); found != item.end()) {
        if (!found->is_number_integer() || found->get<int64_t>() < 0)
            throw LabelError(where + ".row: must be a whole number from 0 (the row within the request)");
        row = found->get<int64_t>();
    }
    out.push_back({id, row, checked_value(*label, where + ".label")});
}

void check_count(size_t count, const std::string& what) {
    if (count > max_labels_per_batch)
        throw LabelError(what + ": more than " + std::to_string(max_labels_per_batch) + " labels; send them in parts");
}

// RFC 4180 records: fields split at commas, quoted fields may hold commas, quotes ("") and line
// breaks. `line` is the number of the line the record started on.
struct CsvRecord {
    std::vector<std::string> fields;
    size_t line = 0;
};

bool next_record(std::istream& in, size_t& line, CsvRecord& record, const std::string& file) {
    record.fields.clear();
    std::string field;
    bool quoted = false, any = false, was_quoted = false;
    record.line = line + 1;
    for (int c; (c = in.get()) != EOF;) {
        any = true;
        if (quoted) {
            if (c == '"') {
                if (in.peek() == '"') field += static_cast<char>(in.get());
                else quoted = false;
            } else {
                if (c == '\n') ++line;
                field += static_cast<char>(c);
            }
            continue;
        }
        if (c == '"' && field.empty() && !was_quoted) {
            quoted = was_quoted = true;
        } else if (c == ',') {
            record.fields.push_back(std::move(field));
            field.clear();
            was_quoted = false;
        } else if (c == '\n') {
            ++line;
            if (!field.empty() && field.back() == '\r' && !was_quoted) field.pop_back();
            record.fields.push_back(std::move(field));
            return true;
        } else {
            field += static_cast<char>(c);
        }
    }
    if (quoted) throw LabelError(file + ":" + std::to_string(record.line) + ": a quoted field is not closed");
    if (!any) return false;
    ++line;
    if (!field.empty() && field.back() == '\r' && !was_quoted) field.pop_back();
    record.fields.push_back(std::move(field));
    return true;
}

// A CSV cell as a label: a whole number, a number, true/false, else the text.
json csv_value(const std::string& text, const std::string& where) {
    if (text.empty()) throw LabelError(where + ": the label is empty");
    int64_t whole = 0;
    if (auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), whole);
        error == std::errc() && end == text.data() + text.size())
        return whole;
    double number = 0;
    if (auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
        error == std::errc() && end == text.data() + text.size()) {
        if (!std::isfinite(number)) throw LabelError(where + ": '" + text + "' is not a finite number");
        return number;
    }
    if (text == "true" || text == "false") return text == "true";
    return text;
}

std::vector<Label> read_csv(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw LabelError(path.string() + ": cannot be read");
    const std::string file = path.string();
    size_t line = 0;
    CsvRecord header;
    if (!next_record(in, line, header, file)) throw LabelError(file + ": is empty; the first line must name request_id and label");
    int id_column = -1, label_column = -1, row_column = -1;
    for (size_t c = 0; c < header.fields.size(); ++c) {
        const std::string& name = header.fields[c];
        if (name == "request_id" || name == "id") id_column = static_cast<int>(c);
        else if (name == "label") label_column = static_cast<int>(c);
        else if (name == "row") row_column = static_cast<int>(c);
    }
    if (id_column < 0 || label_column < 0)
        throw LabelError(file + ":1: the header must name a request_id (or id) column and a label column");
    std::vector<Label> labels;
    CsvRecord record;
    while (next_record(in, line, record, file)) {
        if (record.fields.size() == 1 && record.fields[0].empty()) continue; // a blank line
        const std::string where = file + ":" + std::to_string(record.line);
        if (record.fields.size() != header.fields.size())
            throw LabelError(where + ": has " + std::to_string(record.fields.size()) + " fields; the header has " +
                             std::to_string(header.fields.size()));
        Label label;
        label.request_id = record.fields[static_cast<size_t>(id_column)];
        if (label.request_id.empty()) throw LabelError(where + ": the request id is empty");
        if (row_column >= 0) {
            const std::string& text = record.fields[static_cast<size_t>(row_column)];
            auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), label.row);
            if (error != std::errc() || end != text.data() + text.size() || label.row < 0)
                throw LabelError(where + ": row '" + text + "' is not a whole number from 0");
        }
        label.value = csv_value(record.fields[static_cast<size_t>(label_column)], where);
        labels.push_back(std::move(label));
        check_count(labels.size(), file);
    }
    return labels;
}

std::vector<Label> read_json_lines(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw LabelError(path.string() + ": cannot be read");
    std::vector<Label> labels;
    std::string text;
    for (size_t line = 1; std::getline(in, text); ++line) {
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = path.string() + ":" + std::to_string(line);
        const json item = json::parse(text, nullptr, false);
        if (item.is_discarded()) throw LabelError(where + ": is not a JSON object");
        parse_item(item, where, labels);
        check_count(labels.size(), path.string());
    }
    return labels;
}

// The label of each stored row of `endpoint` among `request_ids`, by (request id, row).
std::map<std::pair<std::string, int64_t>, json> stored_labels(store::Database& db, const std::string& endpoint,
                                                              const std::vector<std::string>& request_ids) {
    std::map<std::pair<std::string, int64_t>, json> found;
    auto select = db.prepare("SELECT row, label FROM prediction_labels WHERE endpoint = ?1 AND request_id = ?2");
    const std::string* previous = nullptr;
    for (const auto& id : request_ids) {
        if (previous && *previous == id) continue; // a request's rows are next to each other
        previous = &id;
        select.reset();
        select.bind(1, endpoint).bind(2, id);
        while (select.step()) found.emplace(std::pair(id, select.int64(0)), json::parse(select.text(1)));
    }
    return found;
}

} // namespace

std::vector<Label> parse_label_body(const json& body) {
    if (!body.is_object() || !body.contains("labels"))
        throw LabelError("the body must be an object with a \"labels\" list, such as {\"labels\": [{\"id\": \"r1\", \"label\": 1}]}");
    const json& items = body.at("labels");
    if (!items.is_array()) throw LabelError("labels: must be a list");
    if (items.empty()) throw LabelError("labels: is empty");
    for (const auto& [key, value] : body.items())
        if (key != "labels") throw LabelError("unknown key '" + key + "' in the body (it holds only \"labels\")");
    std::vector<Label> labels;
    for (size_t i = 0; i < items.size(); ++i) {
        parse_item(items[i], "labels[" + std::to_string(i) + "]", labels);
        check_count(labels.size(), "labels");
    }
    return labels;
}

std::vector<Label> read_label_file(const std::filesystem::path& file) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(file, error)) throw LabelError(file.string() + ": no such file");
    const std::string extension = file.extension().string();
    if (extension == ".csv") return read_csv(file);
    if (extension == ".jsonl" || extension == ".ndjson") return read_json_lines(file);
    if (extension == ".json") {
        std::ifstream in(file, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        const json body = json::parse(text.str(), nullptr, false);
        if (body.is_discarded()) throw LabelError(file.string() + ": is not valid JSON");
        try {
            return parse_label_body(body);
        } catch (const LabelError& e) {
            throw LabelError(file.string() + ": " + e.what());
        }
    }
    throw LabelError(file.string() + ": give labels as .csv, .jsonl (.ndjson) or .json");
}

LabelWrite store_labels(store::Database& db, const std::string& endpoint, const std::vector<Label>& labels,
                        const std::string& actor, double at) {
    LabelWrite write;
    store::Transaction transaction(db);
    auto exists = db.prepare("SELECT 1 FROM prediction_labels WHERE endpoint = ?1 AND request_id = ?2 AND row = ?3");
    auto upsert = db.prepare(
        "INSERT INTO prediction_labels (endpoint, request_id, row, label, received_at, received_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (endpoint, request_id, row) DO UPDATE SET label = excluded.label, received_at = excluded.received_at, "
        "received_by = excluded.received_by");
    for (const auto& label : labels) {
        exists.reset();
        exists.bind(1, endpoint).bind(2, label.request_id).bind(3, label.row);
        const bool replacing = exists.step();
        upsert.reset();
        upsert.bind(1, endpoint).bind(2, label.request_id).bind(3, label.row).bind(4, label.value.dump()).bind(5, at).bind(6, actor);
        upsert.run();
        ++(replacing ? write.replaced : write.inserted);
    }
    transaction.commit();
    return write;
}

std::optional<double> latest_label_time(store::Database& db, const std::string& endpoint) {
    auto select = db.prepare("SELECT MAX(received_at) FROM prediction_labels WHERE endpoint = ?1");
    select.bind(1, endpoint);
    return select.step() ? select.optional_real(0) : std::nullopt;
}

Column window_labels(store::Database& db, const std::string& endpoint, const std::vector<std::string>& request_ids,
                     const std::vector<int64_t>& request_rows, const std::string& name) {
    const auto found = stored_labels(db, endpoint, request_ids);
    std::vector<const json*> values(request_ids.size(), nullptr);
    bool whole = true, numbers = true, bools = true;
    for (size_t r = 0; r < values.size(); ++r) {
        const auto it = found.find({request_ids[r], request_rows[r]});
        if (it == found.end()) continue;
        values[r] = &it->second;
        whole = whole && (it->second.is_number_integer() || it->second.is_number_unsigned());
        numbers = numbers && it->second.is_number();
        bools = bools && it->second.is_boolean();
    }
    const ColumnType type = whole && numbers ? ColumnType::Int64
                            : numbers        ? ColumnType::Float64
                            : bools          ? ColumnType::Bool
                                             : ColumnType::String;
    Column column(name, type);
    column.reserve(values.size());
    for (const json* value : values) {
        if (!value) column.append_null();
        else if (type == ColumnType::Int64) column.append_int(value->get<int64_t>());
        else if (type == ColumnType::Float64) column.append_float(value->get<double>());
        else if (type == ColumnType::Bool) column.append_bool(value->get<bool>());
        else column.append_string(value->is_string() ? value->get<std::string>() : value->dump());
    }
    return column;
}

} // namespace trellis::monitor

#include "monitor/prediction_window.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>

namespace trellis::monitor {
namespace {

// Ordered, so columns keep the order the server logged them in (the model's signature order).
using json = nlohmann::ordered_json;

// The values of one column of the window, typed once every row is in: a column that holds both
// ints and floats becomes float, as the server's float tensors of whole numbers do.
struct ColumnValues {
    std::vector<json> values; // null where a row had no value
};

// The kind of a JSON value as a column type, or nothing for null.
std::optional<ColumnType> kind_of(const json& value) {
    if (value.is_null()) return std::nullopt;
    if (value.is_boolean()) return ColumnType::Bool;
    if (value.is_number_integer()) return ColumnType::Int64;
    if (value.is_number()) return ColumnType::Float64;
    if (value.is_string()) return ColumnType::String;
    throw std::invalid_argument("holds " + std::string(value.type_name()) + " values");
}

// Whether columns of types a and b can be one column (ints widen to floats).
std::optional<ColumnType> merged(std::optional<ColumnType> a, std::optional<ColumnType> b) {
    if (!a) return b;
    if (!b || a == b) return a;
    const auto numeric = [](ColumnType t) { return t == ColumnType::Int64 || t == ColumnType::Float64; };
    if (numeric(*a) && numeric(*b)) return ColumnType::Float64;
    return std::nullopt;
}

// The columns of a window side (inputs or outputs), growing row by row.
class TableBuilder {
public:
    // Checks one record's table (an object of equal-length arrays) and its types against the
    // window so far; throws std::invalid_argument saying why it does not fit.
    size_t check(const json& object, std::optional<size_t> rows) const {
        if (!object.is_object()) throw std::invalid_argument("is not an object of columns");
        for (const auto& [name, values] : object.items()) {
            if (!values.is_array()) throw std::invalid_argument("column '" + name + "' is not a list");
            if (rows && values.size() != *rows)
                throw std::invalid_argument("column '" + name + "' has " + std::to_string(values.size()) + " rows, not " +
                                            std::to_string(*rows));
            rows = values.size();
            std::optional<ColumnType> type;
            for (const auto& value : values) {
                try {
                    const auto kind = kind_of(value);
                    const auto both = merged(type, kind);
                    if (kind && !both) throw std::invalid_argument("mixes types");
                    type = both;
                } catch (const std::invalid_argument& e) {
                    throw std::invalid_argument("column '" + name + "' " + e.what());
                }
            }
            if (const auto found = types_.find(name); found != types_.end() && type && found->second && !merged(found->second, type))
                throw std::invalid_argument("column '" + name + "' is " + std::string(to_string(*type)) + " here but " +
                                            std::string(to_string(*found->second)) + " in earlier records");
        }
        return rows.value_or(0);
    }

    // Appends a record's rows (already checked) to the window.
    void append(const json& object, size_t rows) {
        for (const auto& [name, values] : object.items()) {
            auto [it, inserted] = columns_.try_emplace(name);
            if (inserted) {
                order_.push_back(name);
                it->second.values.resize(rows_, nullptr); // earlier rows had no such column
            }
            auto& type = types_[name];
            for (const auto& value : values) {
                type = merged(type, kind_of(value));
                it->second.values.push_back(value);
            }
        }
        rows_ += rows;
        for (auto& [name, column] : columns_) column.values.resize(rows_, nullptr);
    }

    // Drops the newest `drop` rows.
    void drop_last(size_t drop) {
        drop = std::min(drop, rows_);
        for (auto& [name, column] : columns_) column.values.resize(rows_ - drop);
        rows_ -= drop;
    }

    // Drops all but the last `keep` rows.
    void keep_last(size_t keep) {
        if (keep >= rows_) return;
        for (auto& [name, column] : columns_)
            column.values.erase(column.values.begin(), column.values.end() - static_cast<std::ptrdiff_t>(keep));
        rows_ = keep;
    }

    Table build() const {
        Table table;
        for (const auto& name : order_) {
            const auto& values = columns_.at(name).values;
            const ColumnType type = types_.at(name).value_or(ColumnType::Float64); // all null: float, all missing
            Column column(name, type);
            column.reserve(values.size());
            for (const auto& value : values) {
                if (value.is_null()) column.append_null();
                else if (type == ColumnType::Float64) column.append_float(value.get<double>());
                else if (type == ColumnType::Int64) column.append_int(value.get<int64_t>());
                else if (type == ColumnType::Bool) column.append_bool(value.get<bool>());
                else column.append_string(value.get_ref<const std::string&>());
            }
            table.add_column(std::move(column));
        }
        return table;
    }

private:
    std::vector<std::string> order_;
    std::map<std::string, ColumnValues> columns_;
    std::map<std::string, std::optional<ColumnType>> types_;
    size_t rows_ = 0;
};

// Days sort by name (YYYY-MM-DD), so the folder's order is the log's.
std::vector<std::filesystem::path> day_files(const std::filesystem::path& folder) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        if (entry.is_regular_file() && entry.path().extension() == ".jsonl") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace

PredictionWindow read_prediction_window(const std::filesystem::path& predictions_folder, const std::string& endpoint,
                                        const WindowQuery& query) {
    const std::filesystem::path folder = predictions_folder / endpoint;
    std::error_code error;
    if (!std::filesystem::is_directory(folder, error))
        throw std::runtime_error("no prediction log for endpoint '" + endpoint + "' (" + folder.string() +
                                 " does not exist; is trellis serve logging to this store?)");
    PredictionWindow window;
    const auto skip = [&](std::string reason) {
        if (window.skipped_lines++ < max_skipped_reasons) window.skipped.push_back(std::move(reason));
    };
    TableBuilder inputs, outputs;
    std::vector<size_t> record_of_row; // which record each row came from, to count them after a cut
    for (const auto& file : day_files(folder)) {
        std::ifstream in(file);
        std::string line;
        for (size_t number = 1; std::getline(in, line); ++number) {
            if (line.empty()) continue;
            const std::string where = file.string() + ":" + std::to_string(number) + ": ";
            const json record = json::parse(line, nullptr, false);
            if (record.is_discarded() || !record.is_object()) {
                skip(where + (in.eof() ? "an unfinished last line" : "not a JSON record"));
                continue;
            }
            try {
                const double time = record.at("time").get<double>();
                const std::string variant = record.at("variant").get<std::string>();
                const int64_t version = record.at("version").get<int64_t>();
                const std::string model = record.value("model", "");
                if (record.at("status").get<int64_t>() != 200) continue;
                if (query.since && time < *query.since) continue;
                if (query.until && time >= *query.until) continue;
                if (query.version && version != *query.version) continue;
                if (query.variant ? variant != *query.variant : (variant == "shadow" && !query.include_shadow)) continue;
                const size_t rows = inputs.check(record.at("inputs"), std::nullopt);
                outputs.check(record.at("outputs"), rows);
                inputs.append(record.at("inputs"), rows);
                outputs.append(record.at("outputs"), rows);
                const std::string request_id = record.at("request_id").get<std::string>();
                for (size_t r = 0; r < rows; ++r) {
                    window.request_ids.push_back(request_id);
                    window.request_rows.push_back(static_cast<int64_t>(r));
                    window.versions.push_back(version);
                    window.variants.push_back(variant);
                    window.models.push_back(model);
                    window.times.push_back(time);
                    record_of_row.push_back(window.records);
                }
                ++window.records;
            } catch (const json::exception& e) {
                skip(where + "not a prediction record (" + e.what() + ")");
            } catch (const std::invalid_argument& e) {
                skip(where + e.what());
            }
        }
    }
    if (query.skip_newest > 0) {
        const size_t keep = window.request_ids.size() - std::min(query.skip_newest, window.request_ids.size());
        inputs.drop_last(window.request_ids.size() - keep);
        outputs.drop_last(window.request_ids.size() - keep);
        for (auto* rows : {&window.request_ids, &window.variants, &window.models}) rows->resize(keep);
        for (auto* rows : {&window.request_rows, &window.versions}) rows->resize(keep);
        window.times.resize(keep);
        record_of_row.resize(keep);
        window.records = keep ? record_of_row.back() + 1 : 0;
    }
    if (query.last_rows && window.request_ids.size() > *query.last_rows) {
        const size_t keep = *query.last_rows;
        const auto drop = static_cast<std::ptrdiff_t>(window.request_ids.size() - keep);
        inputs.keep_last(keep);
        outputs.keep_last(keep);
        window.request_ids.erase(window.request_ids.begin(), window.request_ids.begin() + drop);
        window.request_rows.erase(window.request_rows.begin(), window.request_rows.begin() + drop);
        window.versions.erase(window.versions.begin(), window.versions.begin() + drop);
        window.models.erase(window.models.begin(), window.models.begin() + drop);
        window.variants.erase(window.variants.begin(), window.variants.begin() + drop);
        window.times.erase(window.times.begin(), window.times.begin() + drop);
        window.records = record_of_row.back() - record_of_row[static_cast<size_t>(drop)] + 1;
    }
    window.inputs = inputs.build();
    window.outputs = outputs.build();
    return window;
}

namespace {

// `column`'s values under another name (columns have no rename: they are append-only).
Column renamed(const Column& column, const std::string& name) {
    Column out(name, column.type());
    out.reserve(column.size());
    for (size_t r = 0; r < column.size(); ++r) {
        if (column.is_null(r)) out.append_null();
        else if (column.type() == ColumnType::Int64) out.append_int(column.int_at(r));
        else if (column.type() == ColumnType::Float64) out.append_float(column.float_at(r));
        else if (column.type() == ColumnType::Bool) out.append_bool(column.bool_at(r));
        else out.append_string(column.string_at(r));
    }
    return out;
}

} // namespace

Table window_table(const PredictionWindow& window, const Column* labels) {
    Table table;
    Column ids("request_id", ColumnType::String), times("time", ColumnType::Float64), versions("version", ColumnType::Int64),
        variants("variant", ColumnType::String);
    for (size_t r = 0; r < window.request_ids.size(); ++r) {
        ids.append_string(window.request_ids[r]);
        times.append_float(window.times[r]);
        versions.append_int(window.versions[r]);
        variants.append_string(window.variants[r]);
    }
    table.add_column(std::move(ids));
    table.add_column(std::move(times));
    table.add_column(std::move(versions));
    table.add_column(std::move(variants));
    // The log's own columns come first; a model column named like one of them is renamed too.
    const auto taken = [&](const std::string& name) { return table.find(name) != nullptr; };
    for (const auto& column : window.inputs.columns())
        table.add_column(taken(column.name()) ? renamed(column, "input." + column.name()) : column);
    for (const auto& column : window.outputs.columns())
        table.add_column(taken(column.name()) ? renamed(column, "output." + column.name()) : column);
    if (labels) table.add_column(*labels);
    return table;
}

} // namespace trellis::monitor

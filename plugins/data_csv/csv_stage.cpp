// data.csv: reads a CSV file with a header row into a Table, inferring each column's type (int,
// float, bool, string; an empty field is a missing value) unless the pipeline gives it.
#include "csv_reader.hpp"

#include <trellis/sdk.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace {

using trellis::ColumnType;

// Skips one leading '+' that is followed by a digit or '.', as from_chars does not accept it.
const char* skip_plus(const std::string& text) {
    const bool plus = text.size() > 1 && text[0] == '+' && (std::isdigit(static_cast<unsigned char>(text[1])) || text[1] == '.');
    return text.data() + (plus ? 1 : 0);
}

bool parse_int(const std::string& text, int64_t& out) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(skip_plus(text), end, out);
    return ec == std::errc() && ptr == end;
}

// Decimal numbers only: from_chars ignores the locale and takes no hex; "nan" and "inf" are text.
bool parse_float(const std::string& text, double& out) {
    for (char c : text)
        if (std::isalpha(static_cast<unsigned char>(c)) && c != 'e' && c != 'E') return false;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(skip_plus(text), end, out, std::chars_format::general);
    return ec == std::errc() && ptr == end;
}

bool parse_bool(const std::string& text, bool& out) {
    std::string lower;
    for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true") return out = true, true;
    if (lower == "false") return out = false, true;
    return false;
}

bool fits(const std::string& text, ColumnType type) {
    int64_t i;
    double f;
    bool b;
    switch (type) {
    case ColumnType::Int64: return parse_int(text, i);
    case ColumnType::Float64: return parse_float(text, f);
    case ColumnType::Bool: return parse_bool(text, b);
    case ColumnType::String: return true;
    }
    return false;
}

// The narrowest type every present value of column `c` fits: int, then float, then bool, else string.
ColumnType infer(const std::vector<trellis_csv::Row>& rows, size_t c) {
    for (ColumnType type : {ColumnType::Int64, ColumnType::Float64, ColumnType::Bool}) {
        bool all = true, any = false;
        for (size_t r = 1; r < rows.size() && all; ++r) {
            const auto& text = rows[r][c].text;
            if (text.empty()) continue;
            any = true;
            all = fits(text, type);
        }
        if (all && any) return type;
    }
    return ColumnType::String;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

class CsvReader : public trellis::DataStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("data.csv", "reads a CSV file with a header row into a Table")
            .output("table", trellis::ArtifactType::Table, "the rows, with typed columns")
            .required("path", trellis::ValueType::String, "CSV file to read")
            .option_string("delimiter", ",", "field separator, one character")
            .option_string_list("types", {}, "column types to use instead of inferring them, e.g. [\"age:int\"]");
    }

    void run(trellis::Context& ctx) override {
        const std::string path = ctx.config<std::string>("path");
        const std::string delimiter = ctx.config<std::string>("delimiter");
        if (delimiter.size() != 1) throw std::invalid_argument("delimiter must be one character, not '" + delimiter + "'");

        std::vector<trellis_csv::Row> rows;
        try {
            rows = trellis_csv::parse_csv(read_file(path), delimiter[0], [&] { ctx.throw_if_cancelled(); });
        } catch (const trellis_csv::ParseError& e) {
            throw std::invalid_argument(path + ":" + e.what());
        }
        if (rows.empty()) throw std::invalid_argument(path + ": empty file, expected a header row");

        const auto& header = rows[0];
        std::set<std::string> names;
        for (const auto& field : header) {
            if (field.text.empty()) throw std::invalid_argument(location(path, field) + ": empty column name");
            if (!names.insert(field.text).second)
                throw std::invalid_argument(location(path, field) + ": duplicate column name '" + field.text + "'");
        }
        ctx.throw_if_cancelled();
        for (size_t r = 1; r < rows.size(); ++r)
            if (rows[r].size() != header.size()) {
                // Point at the first field too many, or at the last field of a short row.
                const auto& at = rows[r].size() > header.size() ? rows[r][header.size()] : rows[r].back();
                throw std::invalid_argument(location(path, at) + ": row has " + std::to_string(rows[r].size()) +
                                            " fields, the header has " + std::to_string(header.size()));
            }

        const auto declared = declared_types(ctx.config<std::vector<std::string>>("types"), names);
        trellis::Table table;
        for (size_t c = 0; c < header.size(); ++c) {
            const auto found = declared.find(header[c].text);
            const ColumnType type = found != declared.end() ? found->second : infer(rows, c);
            trellis::Column column(header[c].text, type);
            column.reserve(rows.size() - 1);
            for (size_t r = 1; r < rows.size(); ++r) append(column, rows[r][c], path);
            table.add_column(std::move(column));
            ctx.throw_if_cancelled();
        }
        ctx.log().info(path + ": " + std::to_string(table.num_rows()) + " rows, " + std::to_string(table.num_columns()) +
                       " columns");
        ctx.output("table", table);
    }

private:
    static std::string location(const std::string& path, const trellis_csv::Field& field) {
        return path + ":" + std::to_string(field.line) + ":" + std::to_string(field.column);
    }

    // Parses the "types" config: entries "column:type", type one of int, float, bool, string.
    static std::map<std::string, ColumnType> declared_types(const std::vector<std::string>& entries,
                                                            const std::set<std::string>& names) {
        std::map<std::string, ColumnType> out;
        for (const auto& entry : entries) {
            const auto colon = entry.rfind(':');
            if (colon == std::string::npos || colon == 0)
                throw std::invalid_argument("types: '" + entry + "' is not of the form column:type");
            const std::string column = entry.substr(0, colon);
            const auto type = trellis::column_type_from_string(entry.substr(colon + 1));
            if (!type)
                throw std::invalid_argument("types: column '" + column + "': unknown type '" + entry.substr(colon + 1) +
                                            "' (int, float, bool, string)");
            if (!names.count(column)) throw std::invalid_argument("types: no column '" + column + "' in the file");
            out[column] = *type;
        }
        return out;
    }

    static void append(trellis::Column& column, const trellis_csv::Field& field, const std::string& path) {
        if (field.text.empty()) return column.append_null();
        int64_t i;
        double f;
        bool b;
        switch (column.type()) {
        case ColumnType::Int64:
            if (parse_int(field.text, i)) return column.append_int(i);
            break;
        case ColumnType::Float64:
            if (parse_float(field.text, f)) return column.append_float(f);
            break;
        case ColumnType::Bool:
            if (parse_bool(field.text, b)) return column.append_bool(b);
            break;
        case ColumnType::String: return column.append_string(field.text);
        }
        throw std::invalid_argument(location(path, field) + ": column '" + column.name() + "': '" + field.text +
                                    "' is not a valid " + std::string(trellis::to_string(column.type())));
    }
};

const trellis::PluginInfo info{
    .name = "data-csv",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "reads CSV files into Tables",
};

} // namespace

TRELLIS_PLUGIN(info, CsvReader)

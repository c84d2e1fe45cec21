// Builds one Table column from values whose type is known only as they arrive (SQLite: a column
// without a usable declared type takes the storage classes of its values). Ints are widened to
// floats when a float turns up; numbers and text in one column are an error, since either choice
// would silently change values.
#pragma once

#include <trellis/table.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace data_sql {

/// One output column under construction.
class ColumnBuilder {
public:
    /// A column whose type is `fixed`, or, without one, inferred from the first non-null value
    /// (a column of nulls only becomes a string column).
    ColumnBuilder(std::string name, std::optional<trellis::ColumnType> fixed);

    void append_null();
    /// An integer: into an int or float column (widening an inferred int column is not needed);
    /// into a bool column 0 and 1 only.
    void append_int(int64_t value, size_t row);
    /// A float: into a float column, or into an int column after widening it to float.
    void append_float(double value, size_t row);
    /// Text: into a string column only.
    void append_text(std::string_view value, size_t row);

    /// The column's name.
    const std::string& name() const { return name_; }
    /// The finished column.
    trellis::Column finish();

private:
    void start(trellis::ColumnType type);
    void widen_to_float();
    [[noreturn]] void mismatch(const char* value_kind, size_t row) const;

    std::string name_;
    std::optional<trellis::ColumnType> fixed_;
    std::optional<trellis::Column> column_;
    size_t pending_nulls_ = 0; // nulls before the type is known
};

} // namespace data_sql

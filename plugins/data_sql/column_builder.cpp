#include "column_builder.hpp"

#include <stdexcept>
#include <utility>

namespace data_sql {

using trellis::ColumnType;

ColumnBuilder::ColumnBuilder(std::string name, std::optional<ColumnType> fixed) : name_(std::move(name)), fixed_(fixed) {
    if (fixed_) start(*fixed_);
}

void ColumnBuilder::start(ColumnType type) {
    column_.emplace(name_, type);
    for (; pending_nulls_ > 0; --pending_nulls_) column_->append_null();
}

void ColumnBuilder::append_null() {
    if (column_) column_->append_null();
    else ++pending_nulls_;
}

void ColumnBuilder::append_int(int64_t value, size_t row) {
    if (!column_) start(ColumnType::Int64);
    switch (column_->type()) {
    case ColumnType::Int64: return column_->append_int(value);
    case ColumnType::Float64: return column_->append_float(static_cast<double>(value));
    case ColumnType::Bool:
        if (value == 0 || value == 1) return column_->append_bool(value == 1);
        throw std::invalid_argument("column '" + name_ + "' is declared boolean but row " + std::to_string(row) +
                                    " holds " + std::to_string(value) + " (0 or 1 expected)");
    case ColumnType::String: mismatch("a number", row);
    }
}

void ColumnBuilder::append_float(double value, size_t row) {
    if (!column_) start(ColumnType::Float64);
    if (column_->type() == ColumnType::Int64) widen_to_float();
    if (column_->type() != ColumnType::Float64) mismatch("a float", row);
    column_->append_float(value);
}

void ColumnBuilder::append_text(std::string_view value, size_t row) {
    if (!column_) start(ColumnType::String);
    if (column_->type() != ColumnType::String) mismatch("text", row);
    column_->append_string(value);
}

void ColumnBuilder::widen_to_float() {
    trellis::Column widened(name_, ColumnType::Float64);
    widened.reserve(column_->size() * 2);
    for (size_t i = 0; i < column_->size(); ++i) {
        if (column_->is_null(i)) widened.append_null();
        else widened.append_float(static_cast<double>(column_->int_at(i)));
    }
    column_ = std::move(widened);
}

void ColumnBuilder::mismatch(const char* value_kind, size_t row) const {
    throw std::invalid_argument("column '" + name_ + "' mixes " + std::string(trellis::to_string(column_->type())) +
                                " values with " + value_kind + " in row " + std::to_string(row) +
                                "; CAST it in the query (e.g. CAST(" + name_ + " AS TEXT))");
}

trellis::Column ColumnBuilder::finish() {
    if (!column_) start(ColumnType::String);
    return std::move(*column_);
}

} // namespace data_sql

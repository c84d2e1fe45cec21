// Table columns -> row-major float32.
#include "dense_matrix.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace trellis_xgboost {
namespace {

[[noreturn]] void refuse_string_column(const trellis::Column& column, const std::string& input) {
    throw std::invalid_argument(input + ": feature column '" + column.name() +
                                "' is a string column; XGBoost needs numbers (int, float or bool): encode it, "
                                "or leave it out of 'features'");
}

bool valid_at(const uint8_t* validity, size_t row) { return !validity || ((validity[row / 8] >> (row % 8)) & 1u); }

// Writes column `j` down the matrix; reading the Arrow buffers directly keeps this one pass with
// no per-value checks, which matters for the large tables XGBoost is used on.
void fill_column(const trellis::Column& column, size_t j, DenseMatrix& out, const std::string& input) {
    const float missing = std::numeric_limits<float>::quiet_NaN();
    const uint8_t* validity = column.validity_bits();
    float* cell = out.values.data() + j;
    const size_t stride = out.columns;
    switch (column.type()) {
    case trellis::ColumnType::Float64: {
        const auto* data = static_cast<const double*>(column.data_buffer());
        for (size_t r = 0; r < out.rows; ++r, cell += stride) {
            const double v = data[r];
            if (std::isinf(v))
                throw std::invalid_argument(input + ": column '" + column.name() + "' is infinite in row " +
                                            std::to_string(r + 1) + "; XGBoost takes finite numbers (NaN or null is missing)");
            // double -> float rounds to nearest, as XGBoost converts python's float64 arrays.
            *cell = valid_at(validity, r) ? static_cast<float>(v) : missing;
        }
        break;
    }
    case trellis::ColumnType::Int64: {
        const auto* data = static_cast<const int64_t*>(column.data_buffer());
        // Through double, as python reads the same integers into a float64 array first.
        for (size_t r = 0; r < out.rows; ++r, cell += stride)
            *cell = valid_at(validity, r) ? static_cast<float>(static_cast<double>(data[r])) : missing;
        break;
    }
    case trellis::ColumnType::Bool: {
        const auto* bits = static_cast<const uint8_t*>(column.data_buffer());
        for (size_t r = 0; r < out.rows; ++r, cell += stride)
            *cell = valid_at(validity, r) ? static_cast<float>((bits[r / 8] >> (r % 8)) & 1u) : missing;
        break;
    }
    case trellis::ColumnType::String: refuse_string_column(column, input);
    }
}

} // namespace

std::string DenseMatrix::array_interface() const {
    return "{\"data\":[" + std::to_string(reinterpret_cast<uintptr_t>(values.data())) + ",false],\"shape\":[" +
           std::to_string(rows) + "," + std::to_string(columns) + "],\"strides\":null,\"typestr\":\"<f4\",\"version\":3}";
}

DenseMatrix dense_features(const trellis::Table& table, const std::vector<std::string>& names, const std::string& input) {
    DenseMatrix out;
    out.rows = table.num_rows();
    out.columns = names.size();
    std::vector<const trellis::Column*> columns;
    columns.reserve(names.size());
    for (const std::string& name : names) {
        const trellis::Column* column = table.find(name);
        if (!column)
            throw std::invalid_argument(input + " has no feature column '" + name + "' (columns: " +
                                        trellis::column_list(table) + ")");
        if (column->type() == trellis::ColumnType::String) refuse_string_column(*column, input);
        columns.push_back(column);
    }
    out.values.resize(out.rows * out.columns);
    for (size_t j = 0; j < columns.size(); ++j) fill_column(*columns[j], j, out, input);
    return out;
}

} // namespace trellis_xgboost

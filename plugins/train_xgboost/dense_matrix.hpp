// The feature columns of a Table as one row-major float32 buffer: the layout python's xgboost
// hands to XGBoost (a float64 numpy array, converted to float32 inside XGBoost), so that the same
// data gives the same trees, and the layout in-place prediction reads without a DMatrix.
#pragma once

#include <trellis/table.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace trellis_xgboost {

// rows x columns floats, row-major; a null is NaN, XGBoost's missing value.
struct DenseMatrix {
    size_t rows = 0;
    size_t columns = 0;
    std::vector<float> values;

    // The __array_interface__ JSON XGBoost's dense entry points take, pointing at `values`
    // (which must outlive every use of the text).
    std::string array_interface() const;
};

// Copies the columns `names` of `table` (int, float and bool, read as numbers) into a DenseMatrix.
// std::invalid_argument naming the column when one is missing or a string column, or holds an
// infinite value (with its row); `input` names the table in those messages ("input 'train'").
DenseMatrix dense_features(const trellis::Table& table, const std::vector<std::string>& names, const std::string& input);

} // namespace trellis_xgboost

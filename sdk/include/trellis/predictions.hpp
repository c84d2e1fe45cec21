// The prediction columns a flavor returns, and helpers to read and write them. Keeping to this
// convention is what lets the built-in stages (train.evaluate, govern.gate, the server, monitors)
// use a vendor's model without special cases.
//
//   regression        "prediction"            float, the predicted value
//   binary, 0/1       "probability"           float, P(label == 1)
//                     "prediction"            int, 1 when probability >= 0.5, else 0
//   classification    "probability:<label>"   float, one column per class, in the model's class
//   (any labels,                              order (the labels sorted as class_labels() sorts
//    any number of                            them), each row summing to 1
//    classes)         "prediction"            the label of the most probable class (the first
//                                             one on a tie): int for int or bool labels, string
//                                             for string labels
//
// A binary classifier of 0/1 labels may give "probability" alone or the per-class columns (or
// both); a classifier of any other labels gives the per-class columns. Readers look for
// per-class columns first.
#pragma once

#include <trellis/table.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace trellis {

/// Name of the column holding the predicted value or label.
inline constexpr std::string_view prediction_column = "prediction";
/// Name of the binary classifiers' P(label == 1) column.
inline constexpr std::string_view probability_column = "probability";
/// Prefix of the per-class probability columns: "probability:" followed by the class label.
inline constexpr std::string_view class_probability_prefix = "probability:";

/// The per-class probability column of `label`, e.g. "probability:setosa".
inline std::string class_probability_column(std::string_view label) {
    return std::string(class_probability_prefix) + std::string(label);
}

/// The class label a per-class probability column is for, or nullopt for any other column name.
inline std::optional<std::string> class_of_probability_column(std::string_view column_name) {
    if (column_name.size() <= class_probability_prefix.size() ||
        column_name.substr(0, class_probability_prefix.size()) != class_probability_prefix)
        return std::nullopt;
    return std::string(column_name.substr(class_probability_prefix.size()));
}

/// Whether a label column's values are numbers (int or bool), which makes "prediction" an int.
inline bool has_integer_labels(const Column& labels) {
    return labels.type() == ColumnType::Int64 || labels.type() == ColumnType::Bool;
}

/// The label in row `row` of a label column as text: an int in decimal, a bool as 0 or 1, a string
/// as it is. Throws std::invalid_argument for a null and for a float column, since a float is not a
/// class label (read such a CSV column with `types = { "y:int" }`).
inline std::string label_text(const Column& labels, size_t row) {
    if (labels.is_null(row))
        throw std::invalid_argument("label column '" + labels.name() + "' is null in row " + std::to_string(row + 1));
    switch (labels.type()) {
    case ColumnType::Int64: return std::to_string(labels.int_at(row));
    case ColumnType::Bool: return labels.bool_at(row) ? "1" : "0";
    case ColumnType::String: return std::string(labels.string_at(row));
    case ColumnType::Float64: break;
    }
    throw std::invalid_argument("label column '" + labels.name() +
                                "' holds floats; class labels must be int, bool or string");
}

/// The distinct labels of a label column in class order: numerically for int and bool labels,
/// by bytes for strings (the order scikit-learn's classes_ and XGBoost's class indices use).
inline std::vector<std::string> class_labels(const Column& labels) {
    std::vector<std::string> out;
    if (has_integer_labels(labels)) {
        std::vector<int64_t> values;
        values.reserve(labels.size());
        for (size_t i = 0; i < labels.size(); ++i) {
            label_text(labels, i); // rejects nulls
            values.push_back(labels.type() == ColumnType::Int64 ? labels.int_at(i) : labels.bool_at(i) ? 1 : 0);
        }
        std::sort(values.begin(), values.end());
        values.erase(std::unique(values.begin(), values.end()), values.end());
        for (int64_t v : values) out.push_back(std::to_string(v));
        return out;
    }
    for (size_t i = 0; i < labels.size(); ++i) out.push_back(label_text(labels, i));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

/// The per-class probability columns of a prediction table, in table order.
struct ClassProbabilities {
    std::vector<std::string> labels;     ///< class labels, as in the column names
    std::vector<const Column*> columns;  ///< the float columns, one per label
    /// Whether the table had no per-class columns.
    bool empty() const noexcept { return columns.empty(); }
};

/// Finds the "probability:<label>" columns of `predictions`; they must be float columns.
inline ClassProbabilities find_class_probabilities(const Table& predictions) {
    ClassProbabilities out;
    for (const Column& column : predictions.columns()) {
        auto label = class_of_probability_column(column.name());
        if (!label) continue;
        if (column.type() != ColumnType::Float64)
            throw std::invalid_argument("prediction column '" + column.name() + "' must be float");
        out.labels.push_back(std::move(*label));
        out.columns.push_back(&column);
    }
    return out;
}

/// Builds a classifier's prediction table from `probabilities`, row-major with one value per
/// class for each row, for classes `labels` in class order: the per-class columns and
/// "prediction" (int when `integer_labels`, string otherwise).
inline Table classification_predictions(const std::vector<std::string>& labels, bool integer_labels,
                                        std::span<const double> probabilities) {
    const size_t classes = labels.size();
    if (classes == 0) throw std::invalid_argument("a classifier needs at least one class");
    if (probabilities.size() % classes != 0)
        throw std::invalid_argument("probabilities do not divide into rows of " + std::to_string(classes) + " classes");
    const size_t rows = probabilities.size() / classes;
    std::vector<Column> per_class;
    per_class.reserve(classes);
    for (const std::string& label : labels) {
        per_class.emplace_back(class_probability_column(label), ColumnType::Float64);
        per_class.back().reserve(rows);
    }
    std::vector<int64_t> integer_values;
    if (integer_labels)
        for (const std::string& label : labels) integer_values.push_back(std::stoll(label));
    Column predicted(std::string(prediction_column), integer_labels ? ColumnType::Int64 : ColumnType::String);
    predicted.reserve(rows);
    for (size_t row = 0; row < rows; ++row) {
        const double* p = probabilities.data() + row * classes;
        size_t best = 0;
        for (size_t k = 0; k < classes; ++k) {
            per_class[k].append_float(p[k]);
            if (p[k] > p[best]) best = k;
        }
        if (integer_labels) predicted.append_int(integer_values[best]);
        else predicted.append_string(labels[best]);
    }
    Table out;
    for (Column& column : per_class) out.add_column(std::move(column));
    out.add_column(std::move(predicted));
    return out;
}

} // namespace trellis

// The target column as XGBoost labels: class indices 0..K-1 for classification objectives
// (binary:*, multi:*), the values themselves for every other objective; and the choice of
// objective when the pipeline leaves it at "auto".
#pragma once

#include <trellis/sdk.hpp>

#include <string>
#include <vector>

namespace trellis_xgboost {

// Whether XGBoost reads the labels of `objective` as class indices (binary:*, multi:*).
bool is_classification(const std::string& objective);

// The classes of a classification target, in class order (trellis::class_labels order, which is
// the order of the class indices given to XGBoost).
struct ClassEncoding {
    std::vector<std::string> labels; // label text, index i = class i
    bool integer_labels = false;     // int or bool labels, so predictions are ints
};

// The objective to train: `requested` itself, or for "auto": binary:logistic for a bool target, an
// int target holding only 0 and 1, or a string target of two classes; multi:softprob for a string
// target of more; reg:squarederror otherwise (with a warning when an int target holds at most ten
// values, which are likely classes).
std::string resolve_objective(const std::string& requested, const trellis::Column& target, const trellis::Logger& log);

// The classes of `target` for `objective`. std::invalid_argument naming the column when it holds
// floats, nulls, a single class, or more than two classes for a binary:* objective.
ClassEncoding encode_classes(const trellis::Column& target, const std::string& objective);

// Class indices of `target`'s rows under `encoding`; a label the encoding lacks (a class of the
// validation rows that the training rows do not have) is an error naming it and its row.
std::vector<float> class_indices(const trellis::Column& target, const ClassEncoding& encoding, const std::string& input);

// The values of a numeric target (int, float or bool) as floats; a string column, a null or a
// non-finite value is an error naming the column (and row).
std::vector<float> value_labels(const trellis::Column& target, const std::string& objective, const std::string& input);

} // namespace trellis_xgboost

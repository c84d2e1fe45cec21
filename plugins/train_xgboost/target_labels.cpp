// Labels for XGBoost from a trellis target column.
#include "target_labels.hpp"

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

namespace trellis_xgboost {
namespace {

std::string quoted_list(const std::vector<std::string>& labels, size_t most = 10) {
    std::string out;
    for (size_t i = 0; i < labels.size() && i < most; ++i) out += (i ? ", " : "") + ("'" + labels[i] + "'");
    if (labels.size() > most) out += ", ...";
    return out;
}

} // namespace

bool is_classification(const std::string& objective) {
    return objective.rfind("binary:", 0) == 0 || objective.rfind("multi:", 0) == 0;
}

std::string resolve_objective(const std::string& requested, const trellis::Column& target, const trellis::Logger& log) {
    if (requested != "auto") {
        if (requested.empty()) throw std::invalid_argument("objective is empty; use \"auto\" or an XGBoost objective");
        return requested;
    }
    switch (target.type()) {
    case trellis::ColumnType::Bool: return "binary:logistic";
    case trellis::ColumnType::String: {
        const auto labels = trellis::class_labels(target);
        return labels.size() > 2 ? "multi:softprob" : "binary:logistic"; // one class fails in encode_classes
    }
    case trellis::ColumnType::Int64: {
        std::set<int64_t> values;
        for (size_t i = 0; i < target.size() && values.size() <= 10; ++i)
            if (!target.is_null(i)) values.insert(target.int_at(i));
        if (!values.empty() && values.size() <= 2 && *values.begin() >= 0 && *values.rbegin() <= 1)
            return "binary:logistic";
        if (values.size() <= 10) {
            std::string list;
            for (int64_t v : values) list += (list.empty() ? "" : ", ") + std::to_string(v);
            log.warn("objective auto: target '" + target.name() + "' holds only the integers " + list +
                     ", so a regression (reg:squarederror) is trained; if these are classes, set objective = "
                     "\"multi:softprob\"");
        }
        return "reg:squarederror";
    }
    case trellis::ColumnType::Float64: return "reg:squarederror";
    }
    return "reg:squarederror";
}

ClassEncoding encode_classes(const trellis::Column& target, const std::string& objective) {
    if (target.type() == trellis::ColumnType::Float64)
        throw std::invalid_argument("objective " + objective + ": target column '" + target.name() +
                                    "' holds floats; class labels must be int, bool or string (read the CSV column "
                                    "with types = { \"" + target.name() + ":int\" })");
    if (target.null_count() > 0)
        for (size_t i = 0; i < target.size(); ++i)
            if (target.is_null(i))
                throw std::invalid_argument("target column '" + target.name() + "' is null in row " + std::to_string(i + 1));
    ClassEncoding out;
    out.labels = trellis::class_labels(target);
    out.integer_labels = trellis::has_integer_labels(target);
    if (out.labels.size() < 2)
        throw std::invalid_argument("target column '" + target.name() + "' holds a single class (" +
                                    quoted_list(out.labels) + "); objective " + objective + " needs at least two");
    if (objective.rfind("binary:", 0) == 0 && out.labels.size() > 2)
        throw std::invalid_argument("target column '" + target.name() + "' holds " + std::to_string(out.labels.size()) +
                                    " classes (" + quoted_list(out.labels) + "); objective " + objective +
                                    " needs exactly two: use objective = \"multi:softprob\"");
    return out;
}

std::vector<float> class_indices(const trellis::Column& target, const ClassEncoding& encoding, const std::string& input) {
    std::map<std::string, float> index;
    for (size_t k = 0; k < encoding.labels.size(); ++k) index.emplace(encoding.labels[k], static_cast<float>(k));
    if (target.type() == trellis::ColumnType::Float64 || trellis::has_integer_labels(target) != encoding.integer_labels)
        throw std::invalid_argument(input + ": target column '" + target.name() + "' is of type " +
                                    std::string(trellis::to_string(target.type())) + ", unlike the training labels");
    std::vector<float> out;
    out.reserve(target.size());
    for (size_t i = 0; i < target.size(); ++i) {
        const std::string label = trellis::label_text(target, i); // rejects nulls
        const auto found = index.find(label);
        if (found == index.end())
            throw std::invalid_argument(input + ": target column '" + target.name() + "' holds class '" + label +
                                        "' in row " + std::to_string(i + 1) + ", which the training rows do not have");
        out.push_back(found->second);
    }
    return out;
}

std::vector<float> value_labels(const trellis::Column& target, const std::string& objective, const std::string& input) {
    if (target.type() == trellis::ColumnType::String)
        throw std::invalid_argument("objective " + objective + " needs a numeric target, but column '" + target.name() +
                                    "' is a string column; for classes use objective = \"binary:logistic\" or "
                                    "\"multi:softprob\"");
    std::vector<float> out;
    out.reserve(target.size());
    for (size_t i = 0; i < target.size(); ++i) {
        if (target.is_null(i))
            throw std::invalid_argument(input + ": target column '" + target.name() + "' is null in row " +
                                        std::to_string(i + 1));
        double v = 0;
        switch (target.type()) {
        case trellis::ColumnType::Int64: v = static_cast<double>(target.int_at(i)); break;
        case trellis::ColumnType::Float64: v = target.float_at(i); break;
        case trellis::ColumnType::Bool: v = target.bool_at(i) ? 1.0 : 0.0; break;
        case trellis::ColumnType::String: break;
        }
        if (!std::isfinite(v))
            throw std::invalid_argument(input + ": target column '" + target.name() + "' is not finite in row " +
                                        std::to_string(i + 1));
        out.push_back(static_cast<float>(v));
    }
    return out;
}

} // namespace trellis_xgboost

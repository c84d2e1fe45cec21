// Evaluation text and early stopping, following python xgboost 1.7's callback.py.
#include "early_stopping.hpp"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace trellis_xgboost {

std::vector<EvalScore> parse_eval_text(std::string_view text) {
    std::vector<EvalScore> out;
    // Whitespace-separated words; the first is the round "[3]", as python's split()[1:] skips it.
    size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n')) ++pos;
        if (pos >= text.size()) break;
        size_t end = pos;
        while (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != '\n') ++end;
        const std::string word(text.substr(pos, end - pos));
        pos = end;
        if (first) {
            first = false;
            if (word.front() == '[') continue;
        }
        const size_t colon = word.rfind(':');
        if (colon == std::string::npos || colon == 0)
            throw std::runtime_error("unexpected evaluation text from XGBoost: '" + std::string(text) + "'");
        const std::string value = word.substr(colon + 1);
        char* parsed_end = nullptr;
        errno = 0;
        const double score = std::strtod(value.c_str(), &parsed_end);
        if (parsed_end == value.c_str() || *parsed_end != '\0')
            throw std::runtime_error("unexpected evaluation score from XGBoost: '" + word + "'");
        out.push_back({word.substr(0, colon), score});
    }
    return out;
}

bool metric_maximizes(const std::string& metric) {
    if (metric == "mape") return false;
    for (const char* prefix : {"auc", "aucpr", "map", "ndcg", "auc@", "aucpr@", "map@", "ndcg@"})
        if (metric.rfind(prefix, 0) == 0) return true;
    return false;
}

bool EarlyStopping::update(int64_t iteration, const std::string& metric, double score) {
    if (!started_) {
        started_ = true;
        maximize_ = metric_maximizes(metric);
        best_iteration_ = iteration;
        best_score_ = score;
        rounds_without_improvement_ = 0;
    } else if (maximize_ ? score > best_score_ : score < best_score_) {
        best_iteration_ = iteration;
        best_score_ = score;
        rounds_without_improvement_ = 0;
    } else {
        ++rounds_without_improvement_;
    }
    return rounds_without_improvement_ >= rounds_;
}

} // namespace trellis_xgboost

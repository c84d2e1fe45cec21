// Metric formulas of train.evaluate (see README.md), written to agree with scikit-learn's
// sklearn.metrics on the same predictions.
#include "scores.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

namespace trellis_evaluate {
namespace {

using trellis::json_number;
using trellis::json_string;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
// Probabilities are clipped to [eps, 1 - eps] for log_loss, so one confident mistake costs
// -log(1e-15) = 34.5 instead of infinity (scikit-learn's eps before 1.2's "auto").
constexpr double log_loss_eps = 1e-15;

double ratio(double numerator, double denominator) { return denominator > 0 ? numerator / denominator : 0.0; }
double f1_of(double precision, double recall) {
    return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

// The confusion matrix and per-class table of the report, rows = true class, columns = predicted.
std::string confusion_members(const std::vector<std::string>& labels, const std::vector<std::vector<size_t>>& confusion,
                              const std::vector<double>& class_auc) {
    const size_t k = labels.size();
    std::string out = "\"labels\":[";
    for (size_t a = 0; a < k; ++a) out += (a ? "," : "") + json_string(labels[a]);
    out += "],\"confusion_matrix\":{\"rows\":\"true class\",\"columns\":\"predicted class\",\"counts\":[";
    for (size_t a = 0; a < k; ++a) {
        out += a ? ",[" : "[";
        for (size_t b = 0; b < k; ++b) out += (b ? "," : "") + std::to_string(confusion[a][b]);
        out += "]";
    }
    out += "]},\"per_class\":[";
    for (size_t a = 0; a < k; ++a) {
        size_t support = 0, predicted = 0;
        for (size_t b = 0; b < k; ++b) support += confusion[a][b], predicted += confusion[b][a];
        const double precision = ratio(static_cast<double>(confusion[a][a]), static_cast<double>(predicted));
        const double recall = ratio(static_cast<double>(confusion[a][a]), static_cast<double>(support));
        out += std::string(a ? "," : "") + "{\"label\":" + json_string(labels[a]) + ",\"support\":" + std::to_string(support) +
               ",\"predicted\":" + std::to_string(predicted) + ",\"precision\":" + json_number(precision) +
               ",\"recall\":" + json_number(recall) + ",\"f1\":" + json_number(f1_of(precision, recall)) +
               ",\"roc_auc\":" + json_number(class_auc[a]) + "}";
    }
    return out + "]";
}

} // namespace

double roc_auc(const std::vector<double>& score, const std::vector<bool>& positive) {
    // The Mann-Whitney statistic: average ranks give ties exactly one half.
    const size_t n = score.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
    double positive_rank_sum = 0, positives = 0;
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && score[order[end]] == score[order[start]]) ++end;
        const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
        for (size_t k = start; k < end; ++k)
            if (positive[order[k]]) positive_rank_sum += average_rank, positives += 1;
        start = end;
    }
    const double negatives = static_cast<double>(n) - positives;
    if (positives == 0 || negatives == 0) return nan;
    return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

Scores binary_scores(const std::vector<double>& truth, const std::vector<double>& probability, double threshold,
                     const Warn& warn) {
    double tp = 0, fp = 0, tn = 0, fn = 0, log_loss = 0;
    std::vector<bool> positive(truth.size());
    for (size_t i = 0; i < truth.size(); ++i) {
        const bool predicted = probability[i] >= threshold;
        const bool actual = positive[i] = truth[i] == 1.0;
        (predicted ? (actual ? tp : fp) : (actual ? fn : tn)) += 1;
        const double p = std::clamp(probability[i], log_loss_eps, 1.0 - log_loss_eps);
        log_loss -= actual ? std::log(p) : std::log(1.0 - p);
    }
    const double n = static_cast<double>(truth.size());
    const double precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
    Scores out;
    auto& m = out.metrics.values;
    m["accuracy"] = (tp + tn) / n;
    m["precision"] = precision;
    m["recall"] = recall;
    m["f1"] = f1_of(precision, recall);
    m["log_loss"] = log_loss / n;
    m["roc_auc"] = roc_auc(probability, positive);
    if (std::isnan(m["roc_auc"])) warn("roc_auc is undefined (NaN): the target holds only one class");

    std::vector<double> negative_score(probability.size());
    std::vector<bool> negative(truth.size());
    for (size_t i = 0; i < truth.size(); ++i) negative_score[i] = 1.0 - probability[i], negative[i] = !positive[i];
    const auto count = [](double v) { return static_cast<size_t>(v); };
    out.report_members = "\"threshold\":" + json_number(threshold) + "," +
                         confusion_members({"0", "1"}, {{count(tn), count(fp)}, {count(fn), count(tp)}},
                                           {roc_auc(negative_score, negative), m["roc_auc"]});
    return out;
}

Scores class_scores(const std::vector<std::string>& labels, const std::vector<size_t>& truth,
                    const std::vector<double>& probabilities, double threshold, const Warn& warn) {
    const size_t k = labels.size(), n = truth.size();
    std::vector<std::vector<size_t>> confusion(k, std::vector<size_t>(k, 0));
    double log_loss = 0;
    for (size_t i = 0; i < n; ++i) {
        const double* p = &probabilities[i * k];
        size_t predicted = 0;
        if (k == 2) predicted = p[1] >= threshold ? 1 : 0;
        else
            for (size_t c = 1; c < k; ++c)
                if (p[c] > p[predicted]) predicted = c;
        ++confusion[truth[i]][predicted];
        // scikit-learn's log_loss: clip, then renormalise the row.
        double sum = 0;
        for (size_t c = 0; c < k; ++c) sum += std::clamp(p[c], log_loss_eps, 1.0 - log_loss_eps);
        log_loss -= std::log(std::clamp(p[truth[i]], log_loss_eps, 1.0 - log_loss_eps) / sum);
    }

    Scores out;
    auto& m = out.metrics.values;
    const std::vector<std::string> names = metric_labels(labels);
    double correct = 0, f1_sum = 0, f1_weighted = 0, averaged = 0;
    std::vector<double> class_auc(k, nan);
    std::string undefined_auc;
    double auc_sum = 0, auc_count = 0;
    for (size_t c = 0; c < k; ++c) {
        double support = 0, predicted = 0;
        for (size_t o = 0; o < k; ++o) support += static_cast<double>(confusion[c][o]), predicted += static_cast<double>(confusion[o][c]);
        const double tp = static_cast<double>(confusion[c][c]);
        correct += tp;
        const double precision = ratio(tp, predicted), recall = ratio(tp, support), f1 = f1_of(precision, recall);
        m["precision/" + names[c]] = precision;
        m["recall/" + names[c]] = recall;
        m["f1/" + names[c]] = f1;
        // Averages over the classes that occur in the target or the predictions, as scikit-learn's.
        if (support > 0 || predicted > 0) f1_sum += f1, averaged += 1;
        f1_weighted += support * f1;

        std::vector<double> score(n);
        std::vector<bool> positive(n);
        for (size_t i = 0; i < n; ++i) score[i] = probabilities[i * k + c], positive[i] = truth[i] == c;
        class_auc[c] = roc_auc(score, positive);
        if (std::isnan(class_auc[c])) undefined_auc += (undefined_auc.empty() ? "'" : ", '") + labels[c] + "'";
        else auc_sum += class_auc[c], auc_count += 1;
    }
    m["accuracy"] = correct / static_cast<double>(n);
    m["f1_macro"] = averaged > 0 ? f1_sum / averaged : 0.0;
    m["f1_weighted"] = f1_weighted / static_cast<double>(n);
    m["log_loss"] = log_loss / static_cast<double>(n);
    if (k == 2) {
        // The binary names, for the second class as the positive one (scikit-learn's pos_label).
        m["precision"] = m["precision/" + names[1]];
        m["recall"] = m["recall/" + names[1]];
        m["f1"] = m["f1/" + names[1]];
        m["roc_auc"] = class_auc[1];
        if (std::isnan(m["roc_auc"])) warn("roc_auc is undefined (NaN): the target holds only one class");
    } else {
        m["roc_auc"] = auc_count > 0 ? auc_sum / auc_count : nan;
        if (!undefined_auc.empty())
            warn("roc_auc: class" + std::string(static_cast<double>(k) - auc_count > 1 ? "es " : " ") + undefined_auc +
                 (auc_count > 0 ? " left out of the one-vs-rest average: the target has no rows of it"
                                : ": no class has both rows and non-rows in the target, so roc_auc is NaN"));
    }
    out.report_members = (k == 2 ? "\"threshold\":" + json_number(threshold) + "," : std::string()) +
                         confusion_members(labels, confusion, class_auc);
    return out;
}

Scores regression_scores(const std::vector<double>& truth, const std::vector<double>& predicted, const Warn& warn) {
    const double n = static_cast<double>(truth.size());
    const double mean = std::accumulate(truth.begin(), truth.end(), 0.0) / n;
    double squared = 0, absolute = 0, total = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
        const double error = truth[i] - predicted[i];
        squared += error * error;
        absolute += std::abs(error);
        total += (truth[i] - mean) * (truth[i] - mean);
    }
    Scores out;
    auto& m = out.metrics.values;
    m["rmse"] = std::sqrt(squared / n);
    m["mae"] = absolute / n;
    m["r2"] = total > 0 ? 1.0 - squared / total : nan;
    if (!(total > 0)) warn("r2 is undefined (NaN): the target is constant");
    return out;
}

std::vector<std::string> metric_labels(const std::vector<std::string>& labels) {
    std::vector<std::string> out;
    std::set<std::string> taken;
    for (size_t c = 0; c < labels.size(); ++c) {
        std::string name = labels[c].empty() ? "_" : labels[c];
        for (char& ch : name)
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  ch == '.' || ch == '-'))
                ch = '_';
        if (taken.count(name)) name += "_" + std::to_string(c);
        taken.insert(name);
        out.push_back(std::move(name));
    }
    return out;
}

} // namespace trellis_evaluate

// Config keys -> XGBoost parameters.
#include "training_params.hpp"

#include "number_text.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <stdexcept>

namespace trellis_xgboost {
namespace {

// Keys of `params` that have a config key of their own (or are set by the stage): refused there,
// so a value cannot be given twice with one silently winning.
const std::set<std::string>& managed_keys() {
    static const std::set<std::string> keys{
        "objective", "num_class", "eval_metric", "num_boost_round", "n_estimators", "max_depth", "eta",
        "learning_rate", "subsample", "colsample_bytree", "lambda", "reg_lambda", "alpha", "reg_alpha",
        "min_child_weight", "tree_method", "nthread", "n_jobs", "seed", "random_state", "early_stopping_rounds"};
    return keys;
}

// The key the pipeline uses for a managed XGBoost parameter, for the error message.
std::string config_key_for(const std::string& key) {
    if (key == "eta") return "learning_rate";
    if (key == "reg_lambda") return "lambda";
    if (key == "reg_alpha") return "alpha";
    if (key == "n_jobs") return "nthread";
    if (key == "random_state") return "seed";
    if (key == "n_estimators") return "num_boost_round";
    return key;
}

// The value of `key` or of its alias, refusing both at once.
template <class T> T key_or_alias(const trellis::Context& ctx, const std::string& key, const std::string& alias) {
    if (ctx.config_is_set(alias)) {
        if (ctx.config_is_set(key))
            throw std::invalid_argument("'" + alias + "' is another name for '" + key + "'; set one of them, not both");
        return ctx.config<T>(alias);
    }
    return ctx.config<T>(key);
}

void require(bool ok, const std::string& key, const std::string& rule, const std::string& value) {
    if (!ok) throw std::invalid_argument(key + " must be " + rule + ", not " + value);
}

// A `params` entry as XGBoost parameter text, as python's str() would write it.
std::string param_text(const std::string& key, const nlohmann::ordered_json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
    if (value.is_number_integer()) return value.dump();
    if (value.is_number_float()) {
        const double v = value.get<double>();
        if (!std::isfinite(v)) throw std::invalid_argument("params." + key + " must be a finite number");
        return python_float_text(v);
    }
    throw std::invalid_argument("params." + key + " must be a string, number or boolean, not " + value.dump());
}

std::vector<std::string> read_eval_metrics(const trellis::Context& ctx) {
    std::vector<std::string> out;
    if (!ctx.config_is_set("eval_metric")) return out;
    const std::string text = ctx.config<std::string>("eval_metric");
    const auto value = nlohmann::json::parse(text, nullptr, false);
    const auto bad = [&] {
        return std::invalid_argument("eval_metric must be a metric name or a list of them, e.g. \"auc\" or "
                                     "{ \"logloss\", \"auc\" }, not " + text);
    };
    if (value.is_string()) {
        out.push_back(value.get<std::string>());
    } else if (value.is_array() && !value.empty()) {
        for (const auto& item : value) {
            if (!item.is_string()) throw bad();
            out.push_back(item.get<std::string>());
        }
    } else {
        throw bad();
    }
    for (const std::string& metric : out)
        if (metric.empty()) throw bad();
    return out;
}

} // namespace

void declare_training_keys(trellis::StageSpec& spec) {
    spec.option_int("num_boost_round", 10, "boosting rounds (python xgboost.train's num_boost_round)")
        .optional("rounds", trellis::ValueType::Int, "another name for num_boost_round")
        .option_int("max_depth", 6, "maximum depth of a tree (0: no limit, with grow_policy lossguide)")
        .option_float("learning_rate", 0.3, "step size shrinkage (XGBoost's eta)")
        .optional("eta", trellis::ValueType::Float, "another name for learning_rate")
        .option_float("subsample", 1.0, "share of rows sampled for each tree, in (0, 1]")
        .option_float("colsample_bytree", 1.0, "share of columns sampled for each tree, in (0, 1]")
        .option_float("lambda", 1.0, "L2 regularisation of leaf weights, >= 0")
        .option_float("alpha", 0.0, "L1 regularisation of leaf weights, >= 0")
        .option_float("min_child_weight", 1.0, "minimum hessian sum in a child, >= 0")
        .option_string("tree_method", "auto", "auto, exact, approx, hist (or gpu_hist)")
        .option_int("nthread", 0, "threads XGBoost uses; 0: XGBoost's default (every core)")
        .optional("threads", trellis::ValueType::Int, "another name for nthread")
        .option_int("seed", 0, "random seed (row and column sampling)")
        .optional("eval_metric", trellis::ValueType::Json,
                  "metric name or list of names evaluated each round; default: XGBoost's for the objective")
        .optional("early_stopping_rounds", trellis::ValueType::Int,
                  "stop when the last eval_metric on 'valid' has not improved for this many rounds")
        .option_json("params", "{}", "any other XGBoost parameters, passed through as given, e.g. { max_bin = 64 }");
}

TrainingParams read_training_params(trellis::Context& ctx) {
    TrainingParams out;
    out.rounds = key_or_alias<int64_t>(ctx, "num_boost_round", "rounds");
    require(out.rounds >= 1, "num_boost_round", "at least 1", std::to_string(out.rounds));
    const int64_t max_depth = ctx.config<int64_t>("max_depth");
    require(max_depth >= 0, "max_depth", ">= 0", std::to_string(max_depth));
    const double learning_rate = key_or_alias<double>(ctx, "learning_rate", "eta");
    require(learning_rate >= 0 && std::isfinite(learning_rate), "learning_rate", "a number >= 0",
            python_float_text(learning_rate));
    const double subsample = ctx.config<double>("subsample");
    require(subsample > 0 && subsample <= 1, "subsample", "in (0, 1]", python_float_text(subsample));
    const double colsample = ctx.config<double>("colsample_bytree");
    require(colsample > 0 && colsample <= 1, "colsample_bytree", "in (0, 1]", python_float_text(colsample));
    const double lambda = ctx.config<double>("lambda");
    require(lambda >= 0 && std::isfinite(lambda), "lambda", "a number >= 0", python_float_text(lambda));
    const double alpha = ctx.config<double>("alpha");
    require(alpha >= 0 && std::isfinite(alpha), "alpha", "a number >= 0", python_float_text(alpha));
    const double min_child_weight = ctx.config<double>("min_child_weight");
    require(min_child_weight >= 0 && std::isfinite(min_child_weight), "min_child_weight", "a number >= 0",
            python_float_text(min_child_weight));
    const std::string tree_method = ctx.config<std::string>("tree_method");
    require(tree_method == "auto" || tree_method == "exact" || tree_method == "approx" || tree_method == "hist" ||
                tree_method == "gpu_hist",
            "tree_method", "auto, exact, approx, hist or gpu_hist", "'" + tree_method + "'");
    const int64_t nthread = key_or_alias<int64_t>(ctx, "nthread", "threads");
    require(nthread >= 0, "nthread", ">= 0 (0: every core)", std::to_string(nthread));
    out.nthread = nthread;
    const int64_t seed = ctx.config<int64_t>("seed");
    if (ctx.config_is_set("early_stopping_rounds")) {
        out.early_stopping_rounds = ctx.config<int64_t>("early_stopping_rounds");
        require(*out.early_stopping_rounds >= 1, "early_stopping_rounds", "at least 1",
                std::to_string(*out.early_stopping_rounds));
    }
    out.eval_metrics = read_eval_metrics(ctx);

    // Only what the pipeline set goes to XGBoost; the rest stays at XGBoost's defaults, which the
    // declared defaults above repeat for `trellis plugins info` and the logged params.
    const auto set = [&](const std::string& key, const std::string& alias, const std::string& xgboost_key,
                         const std::string& text) {
        if (ctx.config_is_set(key) || (!alias.empty() && ctx.config_is_set(alias))) out.booster.push_back({xgboost_key, text});
    };
    set("max_depth", "", "max_depth", std::to_string(max_depth));
    set("learning_rate", "eta", "eta", python_float_text(learning_rate));
    set("subsample", "", "subsample", python_float_text(subsample));
    set("colsample_bytree", "", "colsample_bytree", python_float_text(colsample));
    set("lambda", "", "lambda", python_float_text(lambda));
    set("alpha", "", "alpha", python_float_text(alpha));
    set("min_child_weight", "", "min_child_weight", python_float_text(min_child_weight));
    set("tree_method", "", "tree_method", tree_method);
    set("nthread", "threads", "nthread", std::to_string(nthread));
    set("seed", "", "seed", std::to_string(seed));

    const std::string params_text = ctx.config<std::string>("params");
    const auto params = nlohmann::ordered_json::parse(params_text, nullptr, false);
    if (!params.is_object())
        throw std::invalid_argument("params must be a table of XGBoost parameters, e.g. { max_bin = 64 }, not " + params_text);
    std::vector<std::pair<std::string, std::string>> extra;
    for (const auto& [key, value] : params.items()) {
        if (key.empty()) throw std::invalid_argument("params holds an empty parameter name");
        if (key == "num_class")
            throw std::invalid_argument("params.num_class: the number of classes is set from the target's classes");
        if (managed_keys().count(key))
            throw std::invalid_argument("params." + key + ": this parameter has its own config key; set " +
                                        config_key_for(key) + " = ... instead");
        out.booster.push_back({key, param_text(key, value)});
        extra.emplace_back(key, value.dump());
    }

    // The hyperparameters as trained, defaults included, for comparing runs.
    ctx.log_param("num_boost_round", out.rounds);
    ctx.log_param("max_depth", max_depth);
    ctx.log_param("learning_rate", learning_rate);
    ctx.log_param("subsample", subsample);
    ctx.log_param("colsample_bytree", colsample);
    ctx.log_param("lambda", lambda);
    ctx.log_param("alpha", alpha);
    ctx.log_param("min_child_weight", min_child_weight);
    ctx.log_param("tree_method", tree_method);
    ctx.log_param("nthread", nthread);
    ctx.log_param("seed", seed);
    if (!out.eval_metrics.empty()) ctx.log_param_json("eval_metric", nlohmann::json(out.eval_metrics).dump());
    if (out.early_stopping_rounds) ctx.log_param("early_stopping_rounds", *out.early_stopping_rounds);
    for (const auto& [key, json] : extra) ctx.log_param_json(key, json);
    return out;
}

} // namespace trellis_xgboost

// Saving "xgboost" models and predicting with them.
#include "xgboost_flavor.hpp"

#include "dense_matrix.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>

namespace trellis_xgboost {
namespace {

// How the objective's raw output becomes prediction columns.
enum class Output {
    BinaryProbability, // binary:logistic: P(class 1) per row
    ClassProbabilities, // multi:softprob: one probability per class per row
    ClassIndex,        // multi:softmax, binary:hinge: the predicted class index
    Value              // everything else: the value itself (regression, counts, ranking scores, margins)
};

Output output_of(const std::string& objective) {
    if (objective == "binary:logistic") return Output::BinaryProbability;
    if (objective == "multi:softprob") return Output::ClassProbabilities;
    if (objective == "multi:softmax" || objective == "binary:hinge") return Output::ClassIndex;
    return Output::Value;
}

// The parts of XGBoost's JSON config the flavor reads: the objective and the number of classes.
struct BoosterFacts {
    std::string objective;
    size_t num_class = 0;
};

BoosterFacts read_facts(const Booster& booster) {
    bst_ulong length = 0;
    const char* text = nullptr;
    check(XGBoosterSaveJsonConfig(booster.get(), &length, &text), "reading the model's configuration");
    const auto config = nlohmann::json::parse(std::string_view(text, length), nullptr, false);
    BoosterFacts facts;
    try {
        const auto& learner = config.at("learner");
        facts.objective = learner.at("objective").at("name").get<std::string>();
        // XGBoost writes its model parameters as strings.
        facts.num_class = std::stoul(learner.at("learner_model_param").at("num_class").get<std::string>());
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("xgboost model: unexpected configuration (") + e.what() + ")");
    }
    return facts;
}

std::vector<std::string> feature_names(const Booster& booster) {
    bst_ulong count = 0;
    const char** names = nullptr;
    check(XGBoosterGetStrFeatureInfo(booster.get(), "feature_name", &count, &names), "reading the model's feature names");
    return std::vector<std::string>(names, names + count);
}

// The classes from the model's attributes; models made elsewhere (python) without them get the
// class indices 0..K-1 as integer labels, which is what their labels were.
ClassEncoding read_classes(const Booster& booster, size_t num_class) {
    ClassEncoding classes;
    bool found = false;
    const std::string labels = booster.attr(class_labels_attribute, found);
    if (found) {
        const auto parsed = nlohmann::json::parse(labels, nullptr, false);
        if (!parsed.is_array()) throw std::invalid_argument("xgboost model: attribute trellis_class_labels is not a JSON array");
        for (const auto& label : parsed) {
            if (!label.is_string()) throw std::invalid_argument("xgboost model: attribute trellis_class_labels holds a non-string");
            classes.labels.push_back(label.get<std::string>());
        }
        bool integer_found = false;
        classes.integer_labels = booster.attr(integer_labels_attribute, integer_found) == "1";
        return classes;
    }
    for (size_t k = 0; k < std::max<size_t>(num_class, 2); ++k) classes.labels.push_back(std::to_string(k));
    classes.integer_labels = true;
    return classes;
}

// The proxy matrix in-place prediction reads its input through, one per thread (a proxy is not
// thread-safe). Without one XGBoost makes a proxy per call, and making one reads the cgroup CPU
// quota files: two openat calls per served request, two thirds of a single-row predict.
DMatrixHandle thread_proxy() {
    thread_local const std::unique_ptr<void, int (*)(DMatrixHandle)> proxy = [] {
        DMatrixHandle handle = nullptr;
        check(XGProxyDMatrixCreate(&handle), "making a proxy matrix for prediction");
        return std::unique_ptr<void, int (*)(DMatrixHandle)>(handle, XGDMatrixFree);
    }();
    return proxy.get();
}

class XGBoostPredictor final : public trellis::Predictor {
public:
    XGBoostPredictor(Booster booster, Booster single_thread, std::vector<std::string> features, std::string objective,
                     std::optional<ClassEncoding> classes, int64_t iteration_end)
        : booster_(std::move(booster)), single_thread_(std::move(single_thread)), features_(std::move(features)),
          objective_(std::move(objective)),
          output_(output_of(objective_)), classes_(std::move(classes)), iteration_end_(iteration_end) {
        // XGBoost configures a loaded learner on its first prediction, under a lock it does not
        // take once configured: predicting once here leaves later calls lock-free and read-only
        // on the booster, so several threads may predict at once (in-place prediction keeps its
        // output per thread).
        trellis::Table warm_up;
        for (const std::string& name : features_) {
            trellis::Column column(name, trellis::ColumnType::Float64);
            column.append_null();
            warm_up.add_column(std::move(column));
        }
        predict_raw(dense_features(warm_up, features_, "warm-up"), booster_);
        predict_raw(dense_features(warm_up, features_, "warm-up"), single_thread_);
    }

    trellis::Table predict(const trellis::Table& input) override {
        const DenseMatrix matrix = dense_features(input, features_, "prediction input");
        const std::vector<float> raw =
            predict_raw(matrix, matrix.rows <= single_thread_rows ? single_thread_ : booster_);
        return to_table(raw, matrix.rows);
    }

private:
    // XGBoost's output for every row, row-major, copied out of XGBoost's per-thread buffer.
    std::vector<float> predict_raw(const DenseMatrix& matrix, const Booster& booster) const {
        if (matrix.rows == 0) return {};
        const std::string config = "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":" +
                                   std::to_string(iteration_end_) + ",\"strict_shape\":false,\"missing\":NaN,\"cache_id\":0}";
        const bst_ulong* shape = nullptr;
        bst_ulong dims = 0;
        const float* result = nullptr;
        check(XGBoosterPredictFromDense(booster.get(), matrix.array_interface().c_str(), config.c_str(), thread_proxy(), &shape,
                                        &dims, &result),
              "predicting");
        size_t count = 1;
        for (bst_ulong d = 0; d < dims; ++d) count *= static_cast<size_t>(shape[d]);
        if (dims == 0 || shape[0] != matrix.rows || count == 0 || count % matrix.rows != 0)
            throw std::runtime_error("xgboost returned " + std::to_string(count) + " values for " +
                                     std::to_string(matrix.rows) + " rows");
        return std::vector<float>(result, result + count);
    }

    trellis::Table to_table(const std::vector<float>& raw, size_t rows) const {
        const size_t per_row = rows ? raw.size() / rows : 0; // 0 rows: nothing to check
        trellis::Table out;
        switch (output_) {
        case Output::BinaryProbability: {
            expect_per_row(per_row, 1);
            const bool zero_one = classes_->integer_labels && classes_->labels == std::vector<std::string>{"0", "1"};
            if (!zero_one) {
                std::vector<double> both;
                both.reserve(rows * 2);
                for (float p : raw) both.insert(both.end(), {1.0 - static_cast<double>(p), static_cast<double>(p)});
                return trellis::classification_predictions(classes_->labels, classes_->integer_labels, both);
            }
            // 0/1 labels: the binary convention's probability = P(1), and prediction = 1 when it
            // is >= 0.5; the per-class columns for readers that take any classifier.
            trellis::Column probability(std::string(trellis::probability_column), trellis::ColumnType::Float64);
            trellis::Column p0(trellis::class_probability_column("0"), trellis::ColumnType::Float64);
            trellis::Column p1(trellis::class_probability_column("1"), trellis::ColumnType::Float64);
            trellis::Column predicted(std::string(trellis::prediction_column), trellis::ColumnType::Int64);
            for (trellis::Column* column : {&probability, &p0, &p1, &predicted}) column->reserve(rows);
            for (float value : raw) {
                const double p = value;
                probability.append_float(p);
                p0.append_float(1.0 - p);
                p1.append_float(p);
                predicted.append_int(p >= 0.5 ? 1 : 0);
            }
            for (trellis::Column* column : {&probability, &p0, &p1, &predicted}) out.add_column(std::move(*column));
            return out;
        }
        case Output::ClassProbabilities: {
            expect_per_row(per_row, classes_->labels.size());
            const std::vector<double> probabilities(raw.begin(), raw.end());
            return trellis::classification_predictions(classes_->labels, classes_->integer_labels, probabilities);
        }
        case Output::ClassIndex: {
            expect_per_row(per_row, 1);
            trellis::Column predicted(std::string(trellis::prediction_column),
                                      classes_->integer_labels ? trellis::ColumnType::Int64 : trellis::ColumnType::String);
            predicted.reserve(rows);
            for (float value : raw) {
                const auto index = static_cast<size_t>(value);
                if (!(value >= 0) || index >= classes_->labels.size())
                    throw std::runtime_error("xgboost predicted class index " + std::to_string(value) + " of " +
                                             std::to_string(classes_->labels.size()) + " classes");
                if (classes_->integer_labels) predicted.append_int(std::stoll(classes_->labels[index]));
                else predicted.append_string(classes_->labels[index]);
            }
            out.add_column(std::move(predicted));
            return out;
        }
        case Output::Value: {
            expect_per_row(per_row, 1);
            trellis::Column predicted(std::string(trellis::prediction_column), trellis::ColumnType::Float64);
            predicted.reserve(rows);
            for (float value : raw) predicted.append_float(value);
            out.add_column(std::move(predicted));
            return out;
        }
        }
        return out;
    }

    void expect_per_row(size_t actual, size_t wanted) const {
        if (actual != wanted && actual != 0)
            throw std::runtime_error("xgboost model with objective " + objective_ + " gave " + std::to_string(actual) +
                                     " values per row, expected " + std::to_string(wanted));
    }

    // Up to this many rows (a served request) go to single_thread_: XGBoost's threads cost more to
    // start and join than a few rows take to predict, and a server has its own threads.
    static constexpr size_t single_thread_rows = 64;
    Booster booster_;        // XGBoost's threads (nthread as trained): scoring tables
    Booster single_thread_;  // the same model with nthread 1
    std::vector<std::string> features_;
    std::string objective_;
    Output output_;
    std::optional<ClassEncoding> classes_;
    int64_t iteration_end_; // 0: every round; else best_iteration + 1 of early stopping
};

} // namespace

void store_class_labels(Booster& booster, const ClassEncoding& classes) {
    booster.set_attr(class_labels_attribute, nlohmann::json(classes.labels).dump());
    booster.set_attr(integer_labels_attribute, classes.integer_labels ? "1" : "0");
}

std::vector<uint8_t> save_model_json(const Booster& booster) {
    bst_ulong length = 0;
    const char* bytes = nullptr;
    check(XGBoosterSaveModelToBuffer(booster.get(), "{\"format\":\"json\"}", &length, &bytes), "saving the model");
    return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(bytes), reinterpret_cast<const uint8_t*>(bytes) + length);
}

std::unique_ptr<trellis::Predictor> XGBoostFlavor::load(const trellis::Model& model) {
    if (model.bytes.empty()) throw std::invalid_argument("xgboost model: the model bytes are empty");
    Booster booster(nullptr, 0);
    check(XGBoosterLoadModelFromBuffer(booster.get(), model.bytes.data(), model.bytes.size()),
          "xgboost model: loading the model bytes");
    const BoosterFacts facts = read_facts(booster);

    // The signature is what the host shows and checks; it must name the model's own features.
    std::vector<std::string> features = feature_names(booster);
    bst_ulong num_feature = 0;
    check(XGBoosterGetNumFeature(booster.get(), &num_feature), "reading the model's feature count");
    if (features.empty())
        for (const trellis::Field& field : model.signature) features.push_back(field.name);
    bool same = features.size() == model.signature.size() && features.size() == num_feature;
    for (size_t i = 0; same && i < features.size(); ++i) same = model.signature[i].name == features[i];
    if (!same)
        throw std::invalid_argument("xgboost model: the signature does not list the model's " +
                                    std::to_string(num_feature) + " features in order");

    std::optional<ClassEncoding> classes;
    const Output output = output_of(facts.objective);
    if (output == Output::BinaryProbability || output == Output::ClassProbabilities || output == Output::ClassIndex) {
        classes = read_classes(booster, facts.num_class);
        const size_t wanted = facts.objective.rfind("binary:", 0) == 0 ? 2 : facts.num_class;
        if (classes->labels.size() != wanted)
            throw std::invalid_argument("xgboost model: " + std::to_string(classes->labels.size()) +
                                        " class labels for objective " + facts.objective + " with " +
                                        std::to_string(wanted) + " classes");
    }

    // Early stopping kept every round, as python does; predictions use the rounds up to the best
    // one, as xgboost's scikit-learn wrapper does.
    int64_t iteration_end = 0;
    bool found = false;
    const std::string best = booster.attr("best_iteration", found);
    if (found) {
        try {
            iteration_end = std::stoll(best) + 1;
        } catch (const std::exception&) {
            throw std::invalid_argument("xgboost model: attribute best_iteration is not a number: '" + best + "'");
        }
    }
    Booster single_thread(nullptr, 0);
    check(XGBoosterLoadModelFromBuffer(single_thread.get(), model.bytes.data(), model.bytes.size()),
          "xgboost model: loading the model bytes");
    single_thread.set_param("nthread", "1");
    return std::make_unique<XGBoostPredictor>(std::move(booster), std::move(single_thread), std::move(features),
                                              facts.objective, std::move(classes), iteration_end);
}

} // namespace trellis_xgboost

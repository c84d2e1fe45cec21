// train.linear and train.evaluate side by side with scikit-learn (Debian's python3-sklearn 1.2,
// run as /usr/bin/python3 tests/reference/sklearn_reference.py) on the same data.split split and
// the same regularisation: coefficients agree to 1e-6 (ridge) and 1e-4 (logistic, multinomial)
// relative, and train.evaluate's metrics equal sklearn.metrics on the same predictions.
#include "flavor_call.hpp"

#include "temp_dir.hpp"

#include <trellis/predictions.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using namespace trellis::test;

namespace {

const std::string python = "/usr/bin/python3";
const std::string reference_script = std::string(TEST_DATA_DIR) + "/../reference/sklearn_reference.py";

// Why the Python reference cannot run here, or empty when it can.
std::string reference_unavailable() {
    static const std::string why = [] {
        const std::string command = python + " -c 'import sklearn, numpy, scipy' >/dev/null 2>&1";
        if (std::system(command.c_str()) != 0)
            return std::string("skipped: ") + python + " cannot import sklearn, numpy and scipy (install python3-sklearn, "
                                                       "see scripts/install-deps)";
        return std::string();
    }();
    return why;
}

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Runs the reference script with `args`, returning its stdout; fails the test on a non-zero exit.
std::string run_reference(const TempDir& dir, const std::string& args) {
    const auto out = dir / "reference.out", err = dir / "reference.err";
    const std::string command = python + " " + shell_quote(reference_script) + " " + args + " >" + shell_quote(out.string()) +
                                " 2>" + shell_quote(err.string());
    const int status = std::system(command.c_str());
    std::ifstream out_file(out), err_file(err);
    std::stringstream out_text, err_text;
    out_text << out_file.rdbuf();
    err_text << err_file.rdbuf();
    INFO("reference: " << command << "\n" << err_text.str());
    REQUIRE(status == 0);
    return out_text.str();
}

// A table as CSV with every double's 17 significant digits, so Python reads the very same values.
void write_csv(const trellis::Table& table, const std::filesystem::path& path) {
    std::ofstream out(path);
    for (size_t j = 0; j < table.num_columns(); ++j) out << (j ? "," : "") << table.column(j).name();
    out << '\n';
    for (size_t i = 0; i < table.num_rows(); ++i) {
        for (size_t j = 0; j < table.num_columns(); ++j) {
            const Column& column = table.column(j);
            REQUIRE_FALSE(column.is_null(i));
            if (j) out << ',';
            switch (column.type()) {
            case ColumnType::Int64: out << column.int_at(i); break;
            case ColumnType::Bool: out << (column.bool_at(i) ? 1 : 0); break;
            case ColumnType::String: {
                const std::string_view text = column.string_at(i);
                REQUIRE(text.find_first_of(",\"\n") == std::string_view::npos);
                out << text;
                break;
            }
            case ColumnType::Float64: {
                char text[32];
                std::snprintf(text, sizeof text, "%.17g", column.float_at(i));
                out << text;
                break;
            }
            }
        }
        out << '\n';
    }
}

trellis::Table without(const trellis::Table& table, const std::string& name) {
    trellis::Table out;
    for (const Column& column : table.columns())
        if (column.name() != name) out.add_column(column);
    return out;
}

// |a - b| relative to b, and to `floor` for values near 0 (where relative error means nothing).
double relative_error(double a, double b, double floor) { return std::abs(a - b) / std::max(std::abs(b), floor); }

struct ParityCase {
    std::string name;
    trellis::Table data;
    std::string target;
    std::string objective;        // train.linear's objective config
    std::string python_objective; // what the reference fits: regression, logistic or multinomial
    double l2 = 1.0;
    double tolerance = 1e-4; // coefficients and metrics of scikit-learn's own model
};

void check_parity(const ParityCase& c) {
    INFO("case " << c.name);
    TempDir dir;
    // The same split for both sides: data.split's, stratified on classes.
    static const auto split_plugin = open_plugin("data_split.so");
    nlohmann::json split_config = {{"test_fraction", 0.25}, {"seed", 11}};
    if (c.python_objective != "regression") split_config["stratify"] = c.target;
    StageRun split(split_plugin, "data.split", split_config);
    split.set_input("table", trellis::ArtifactType::Table, trellis::serialize(c.data));
    REQUIRE(split.invoke().message == "");
    const trellis::Table train = trellis::deserialize_table(split.output("train"));
    const trellis::Table test = trellis::deserialize_table(split.output("test"));

    const auto trained = train_linear(train, {{"target", c.target}, {"objective", c.objective}, {"l2", c.l2}});
    REQUIRE(trained.outcome.message == "");
    const auto model = linear_json(trained.model);
    const auto predicted = linear_predict(trained.model, without(test, c.target));
    REQUIRE(predicted.message == "");

    static const auto evaluate_plugin = open_plugin("train_evaluate.so");
    StageRun evaluate(evaluate_plugin, "train.evaluate", {{"target", c.target}});
    evaluate.set_input("model", trellis::ArtifactType::Model, trellis::serialize(trained.model));
    evaluate.set_input("data", trellis::ArtifactType::Table, trellis::serialize(test));
    REQUIRE(evaluate.invoke().message == "");
    const auto metrics = trellis::deserialize_metrics(evaluate.output("metrics")).values;

    write_csv(train, dir / "train.csv");
    write_csv(test, dir / "test.csv");
    write_csv(predicted.table, dir / "predictions.csv");
    char l2_text[32];
    std::snprintf(l2_text, sizeof l2_text, "%.17g", c.l2);
    const auto reference = nlohmann::json::parse(run_reference(
        dir, "fit " + c.python_objective + " " + l2_text + " " + shell_quote(c.target) + " " +
                 shell_quote((dir / "train.csv").string()) + " " + shell_quote((dir / "test.csv").string()) + " " +
                 shell_quote((dir / "predictions.csv").string())));

    // Standardisation: the same means and population stds (constant columns: scale 1).
    REQUIRE(reference["features"] == model["features"]);
    for (size_t j = 0; j < model["means"].size(); ++j) {
        CHECK(relative_error(model["means"][j].get<double>(), reference["means"][j].get<double>(), 1e-12) < 1e-12);
        CHECK(relative_error(model["scales"][j].get<double>(), reference["scales"][j].get<double>(), 1e-12) < 1e-12);
    }

    // Coefficients, on the standardised features.
    std::vector<std::vector<double>> weights;
    std::vector<double> intercepts;
    if (model["version"] == 1) {
        weights = {model["weights"].get<std::vector<double>>()};
        intercepts = {model["intercept"].get<double>()};
    } else {
        CHECK(model["classes"] == reference["classes"]);
        for (const auto& row : model["weights"]) weights.push_back(row.get<std::vector<double>>());
        intercepts = model["intercepts"].get<std::vector<double>>();
    }
    const auto reference_weights = reference["weights"].get<std::vector<std::vector<double>>>();
    const auto reference_intercepts = reference["intercepts"].get<std::vector<double>>();
    REQUIRE(weights.size() == reference_weights.size());
    REQUIRE(intercepts.size() == reference_intercepts.size());
    double largest = 0;
    for (const auto& row : reference_weights)
        for (double w : row) largest = std::max(largest, std::abs(w));
    for (double b : reference_intercepts) largest = std::max(largest, std::abs(b));
    // Relative to each coefficient, or to 1e-3 of the largest for coefficients near 0.
    const double floor = 1e-3 * largest;
    double worst = 0;
    for (size_t k = 0; k < weights.size(); ++k) {
        REQUIRE(weights[k].size() == reference_weights[k].size());
        for (size_t j = 0; j < weights[k].size(); ++j)
            worst = std::max(worst, relative_error(weights[k][j], reference_weights[k][j], floor));
        worst = std::max(worst, relative_error(intercepts[k], reference_intercepts[k], floor));
    }
    INFO("largest relative coefficient difference " << worst);
    CHECK(worst < c.tolerance);
    WARN(c.name << ": coefficients agree with scikit-learn to " << worst << " relative (bound " << c.tolerance << ")");

    // sklearn.metrics on the very same predictions: equal up to rounding.
    for (const auto& [name, value] : reference["metrics_of_trellis_predictions"].items()) {
        INFO("metric " << name << " of the same predictions");
        REQUIRE(metrics.count(name) == 1);
        CHECK(relative_error(metrics.at(name), value.get<double>(), 1e-12) < 1e-9);
    }
    // And of scikit-learn's own model: within the coefficients' tolerance.
    for (const auto& [name, value] : reference["sklearn_metrics"].items()) {
        INFO("metric " << name << " of scikit-learn's model");
        REQUIRE(metrics.count(name) == 1);
        CHECK(relative_error(metrics.at(name), value.get<double>(), 1e-3) < c.tolerance);
    }
}

} // namespace

TEST_CASE("sklearn parity: ridge regression on wine's alcohol") {
    if (const auto why = reference_unavailable(); !why.empty()) {
        WARN(why);
        return;
    }
    check_parity({"ridge l2 = 1", wine(), "alcohol", "regression", "regression", 1.0, 1e-6});
    check_parity({"ridge l2 = 25", wine(), "alcohol", "regression", "regression", 25.0, 1e-6});
}

TEST_CASE("sklearn parity: binary logistic regression on breast_cancer") {
    if (const auto why = reference_unavailable(); !why.empty()) {
        WARN(why);
        return;
    }
    check_parity({"binary logistic", breast_cancer(), "malignant", "logistic", "logistic", 1.0});
    check_parity({"binary logistic l2 = 0.1", breast_cancer(), "malignant", "logistic", "logistic", 0.1});
}

TEST_CASE("sklearn parity: multinomial on wine (int classes) and iris (string classes)") {
    if (const auto why = reference_unavailable(); !why.empty()) {
        WARN(why);
        return;
    }
    check_parity({"wine multinomial", wine(), "cultivar", "logistic", "multinomial", 1.0});
    check_parity({"iris multinomial", iris(), "species", "auto", "multinomial", 0.5});
}

TEST_CASE("sklearn parity: multinomial on the 64-pixel digits, whose first pixel is constant") {
    if (const auto why = reference_unavailable(); !why.empty()) {
        WARN(why);
        return;
    }
    TempDir dir;
    run_reference(dir, "digits " + shell_quote((dir / "digits.csv").string()));
    const trellis::Table digits = csv_table((dir / "digits.csv").string());
    REQUIRE(digits.num_rows() == 1797);
    REQUIRE(digits.num_columns() == 65);
    check_parity({"digits multinomial", digits, "digit", "multinomial", "multinomial", 1.0});
}

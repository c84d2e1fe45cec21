// train.linear: ridge regression (closed form), L2-regularised binary logistic regression (Newton /
// IRLS) and multinomial logistic regression (Newton-CG) on a table's numeric columns, producing a
// "linear" Model served by LinearFlavor.
#include "linear_model.hpp"
#include "multinomial_fit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using trellis::Column;
using trellis::ColumnType;
using trellis_linear::LinearModel;

// Row-major dense matrix; the systems here are (features + 1) square, so nothing fancier is needed.
struct Matrix {
    size_t n = 0;
    std::vector<double> a;
    explicit Matrix(size_t size) : n(size), a(size * size, 0.0) {}
    // Element access reading like the maths.
    double& operator()(size_t i, size_t j) { return a[i * n + j]; }
};

// Solves m x = b by Gaussian elimination with partial pivoting, which stays accurate on the
// ill-conditioned normal equations of correlated features; throws `singular` when a pivot vanishes.
std::vector<double> solve(Matrix m, std::vector<double> b, const std::string& singular) {
    const size_t n = m.n;
    double largest = 0;
    for (size_t i = 0; i < n; ++i) largest = std::max(largest, std::abs(m(i, i)));
    const double tiny = std::max(largest, 1e-300) * 1e-13;
    for (size_t col = 0; col < n; ++col) {
        size_t pivot = col;
        for (size_t row = col + 1; row < n; ++row)
            if (std::abs(m(row, col)) > std::abs(m(pivot, col))) pivot = row;
        if (!(std::abs(m(pivot, col)) > tiny)) throw std::invalid_argument(singular);
        if (pivot != col) {
            for (size_t k = 0; k < n; ++k) std::swap(m(col, k), m(pivot, k));
            std::swap(b[col], b[pivot]);
        }
        for (size_t row = col + 1; row < n; ++row) {
            const double factor = m(row, col) / m(col, col);
            if (factor == 0) continue;
            for (size_t k = col; k < n; ++k) m(row, k) -= factor * m(col, k);
            b[row] -= factor * b[col];
        }
    }
    std::vector<double> x(n);
    for (size_t i = n; i-- > 0;) {
        double sum = b[i];
        for (size_t k = i + 1; k < n; ++k) sum -= m(i, k) * x[k];
        x[i] = sum / m(i, i);
    }
    return x;
}

// A column's value as a number: int, float and bool columns all feed the same linear model.
double number_at(const Column& column, size_t row) {
    switch (column.type()) {
    case ColumnType::Int64: return static_cast<double>(column.int_at(row));
    case ColumnType::Float64: return column.float_at(row);
    case ColumnType::Bool: return column.bool_at(row) ? 1.0 : 0.0;
    case ColumnType::String: break;
    }
    return 0.0;
}

// log(1 + e^t) without overflow, so the logistic loss stays finite for confident predictions.
double softplus(double t) { return std::max(t, 0.0) + std::log1p(std::exp(-std::abs(t))); }

// The training data as dense doubles: x row-major (rows x features), y per row (the value for
// regression, 1 for the second class of a binary classifier), and each row's class index.
struct Data {
    size_t rows = 0, features = 0;
    std::vector<double> x, y;
    std::vector<size_t> labels;
    // Feature j of row i; one contiguous buffer keeps the O(n p^2) loops cache-friendly.
    double at(size_t i, size_t j) const { return x[i * features + j]; }
};

// What the target means for the fit: the objective ("auto" resolved; "logistic" on more than two
// classes becomes "multinomial") and, for classifiers, the classes in class order.
struct Task {
    std::string objective;
    std::vector<std::string> classes;
    bool integer_labels = true;
};

// Fits linear models; a train stage so that pipelines get a baseline model with no dependencies
// and an exact, documented objective.
class LinearTrainer : public trellis::TrainStage {
public:
    // Declares the ports and keys so the host validates config before run() and documents the stage.
    static trellis::StageSpec spec() {
        return trellis::StageSpec("train.linear", "fits ridge (linear), L2 logistic or multinomial logistic regression")
            .input("train", trellis::ArtifactType::Table, "training rows: the target and numeric features")
            .output("model", trellis::ArtifactType::Model, "a model of flavor \"linear\"")
            .required("target", trellis::ValueType::String, "column to predict")
            .option_string_list("features", {}, "feature columns; empty: every int, float and bool column but the target")
            .option_string("objective", "auto",
                           "regression, logistic (multinomial on more than two classes), multinomial (alias softmax), "
                           "or auto (logistic for 0/1 targets, a classifier for string targets, else regression)")
            .option_float("l2", 1.0, "L2 penalty on the weights (not the intercept), >= 0; scikit-learn's C = 1 / l2")
            .option_bool("standardize", true, "centre and scale features by the training mean and std first")
            .option_int("max_iterations", 100, "classifiers: most Newton steps")
            .option_float("tolerance", 1e-10, "classifiers: stop when no parameter moves by this much")
            .option_bool("drop_missing", false, "skip rows with a null target or feature instead of failing");
    }

    // Validates everything up front (so errors come before any fitting), then fits and encodes.
    void run(trellis::Context& ctx) override {
        const trellis::Table table = ctx.input<trellis::Table>("train");
        const std::string target = ctx.config<std::string>("target");
        const double l2 = ctx.config<double>("l2");
        if (!(l2 >= 0) || !std::isfinite(l2)) throw std::invalid_argument("l2 must be a finite number >= 0");
        const int64_t max_iterations = ctx.config<int64_t>("max_iterations");
        if (max_iterations < 1) throw std::invalid_argument("max_iterations must be at least 1");
        const double tolerance = ctx.config<double>("tolerance");
        if (!(tolerance > 0)) throw std::invalid_argument("tolerance must be > 0");
        const bool standardize = ctx.config<bool>("standardize");
        const std::string objective_config = ctx.config<std::string>("objective");
        if (objective_config != "auto" && objective_config != "regression" && objective_config != "logistic" &&
            objective_config != "multinomial" && objective_config != "softmax")
            throw std::invalid_argument("objective must be regression, logistic, multinomial, softmax or auto, not '" +
                                        objective_config + "'");

        const Column& target_column = find_column(table, target, "target");
        const auto feature_names = ctx.config<std::vector<std::string>>("features");
        const std::vector<const Column*> features = feature_columns(table, target, feature_names);
        if (feature_names.empty()) warn_skipped_text_columns(ctx, table, target);
        const std::vector<size_t> rows = usable_rows(ctx, table, target_column, features);
        Data data = collect(features, rows);
        const Task task = resolve_task(ctx, objective_config, target_column, rows, data);

        LinearModel model;
        model.objective = task.objective;
        model.classes = task.classes;
        model.integer_labels = task.integer_labels;
        for (const Column* column : features) model.features.push_back(column->name());
        model.means.assign(data.features, 0.0);
        model.scales.assign(data.features, 1.0);
        const std::vector<size_t> constant = constant_features(data);
        if (!constant.empty()) report_constant_features(ctx, model, constant, l2);
        if (standardize) standardize_in_place(data, model, constant);

        // The hyperparameters as trained (objective resolved from "auto"), for comparing runs.
        ctx.log_param("objective", task.objective);
        ctx.log_param("l2", l2);
        ctx.log_param("features", static_cast<int64_t>(data.features));
        ctx.log_param("rows", static_cast<int64_t>(data.rows));
        if (!task.classes.empty()) ctx.log_param("classes", static_cast<int64_t>(task.classes.size()));
        if (task.objective == "regression") fit_ridge(data, l2, model);
        else if (task.objective == "logistic") fit_logistic(ctx, data, l2, max_iterations, tolerance, model);
        else fit_softmax(ctx, data, l2, max_iterations, tolerance, model);

        trellis::Model out;
        out.flavor = "linear";
        for (const Column* column : features) out.signature.push_back({column->name(), column->type()});
        const std::string bytes = trellis_linear::encode(model);
        out.bytes.assign(bytes.begin(), bytes.end());
        ctx.log().info(task.objective + " on " + std::to_string(data.rows) + " rows and " + std::to_string(data.features) +
                       " features" +
                       (task.classes.empty() ? "" : ", " + std::to_string(task.classes.size()) + " classes") +
                       (model.intercepts.size() == 1 ? ", intercept " + std::to_string(model.intercepts[0]) : ""));
        ctx.output("model", out);
    }

private:
    // A column of the input; names the role (target, features) in errors so the pipeline author
    // knows which key to fix.
    static const Column& find_column(const trellis::Table& table, const std::string& name, const std::string& role) {
        const Column* column = table.find(name);
        if (!column) throw std::invalid_argument(role + ": no column '" + name + "' in input 'train' (columns: " +
                                                 trellis::column_list(table) + ")");
        return *column;
    }

    // A column the model can use as numbers.
    static const Column& numeric_column(const trellis::Table& table, const std::string& name, const std::string& role) {
        const Column& column = find_column(table, name, role);
        if (column.type() == ColumnType::String)
            throw std::invalid_argument(role + ": column '" + name + "' is a string column; it must be int, float or bool");
        return column;
    }

    // The configured features, or every numeric column but the target: the usual intent, and
    // string columns cannot enter a linear model without an encoding step anyway.
    static std::vector<const Column*> feature_columns(const trellis::Table& table, const std::string& target,
                                                      const std::vector<std::string>& names) {
        std::vector<const Column*> out;
        if (names.empty()) {
            for (const Column& column : table.columns())
                if (column.name() != target && column.type() != ColumnType::String) out.push_back(&column);
            if (out.empty()) throw std::invalid_argument("features: input 'train' has no int, float or bool column besides the target");
            return out;
        }
        std::set<std::string> seen;
        for (const std::string& name : names) {
            if (name == target) throw std::invalid_argument("features: '" + name + "' is the target");
            if (!seen.insert(name).second) throw std::invalid_argument("features: '" + name + "' is listed twice");
            out.push_back(&numeric_column(table, name, "features"));
        }
        return out;
    }

    // Rows without nulls. Failing by default keeps silently shrinking data out of pipelines;
    // drop_missing is the explicit opt-in.
    static std::vector<size_t> usable_rows(trellis::Context& ctx, const trellis::Table& table, const Column& target,
                                           const std::vector<const Column*>& features) {
        const size_t n = table.num_rows();
        std::vector<const Column*> all{&target};
        all.insert(all.end(), features.begin(), features.end());
        const bool drop = ctx.config<bool>("drop_missing");
        if (!drop)
            for (const Column* column : all)
                if (column->null_count() > 0)
                    throw std::invalid_argument("column '" + column->name() + "' has " + std::to_string(column->null_count()) +
                                                " null values; fill them or set drop_missing = true");
        std::vector<size_t> rows;
        rows.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            bool ok = true;
            for (const Column* column : all) ok = ok && !column->is_null(i);
            if (ok) rows.push_back(i);
        }
        if (rows.size() < n)
            ctx.log().info("drop_missing: skipped " + std::to_string(n - rows.size()) + " of " + std::to_string(n) +
                           " rows with a null target or feature");
        if (rows.empty()) throw std::invalid_argument("input 'train' has no rows to train on");
        return rows;
    }

    // Copies the usable rows' features into one dense buffer once, refusing NaN and infinity, which
    // would otherwise spread through every sum and yield a NaN model.
    static Data collect(const std::vector<const Column*>& features, const std::vector<size_t>& rows) {
        Data data;
        data.rows = rows.size();
        data.features = features.size();
        data.x.reserve(data.rows * data.features);
        for (size_t i : rows) {
            for (const Column* column : features) {
                data.x.push_back(number_at(*column, i));
                if (!std::isfinite(data.x.back()))
                    throw std::invalid_argument("column '" + column->name() + "' is not finite at row " + std::to_string(i));
            }
        }
        return data;
    }

    // The target's values as numbers, for a regression.
    static void collect_values(const Column& target, const std::vector<size_t>& rows, Data& data) {
        if (target.type() == ColumnType::String)
            throw std::invalid_argument("target: column '" + target.name() +
                                        "' is a string column; it must be int, float or bool for a regression");
        data.y.clear();
        for (size_t i : rows) {
            data.y.push_back(number_at(target, i));
            if (!std::isfinite(data.y.back()))
                throw std::invalid_argument("column '" + target.name() + "' is not finite at row " + std::to_string(i));
        }
    }

    // Whether every usable target value is 0 or 1 (int, float or bool): the labels of the classic
    // binary model.
    static bool is_zero_one(const Column& target, const std::vector<size_t>& rows) {
        if (target.type() == ColumnType::String) return false;
        for (size_t i : rows) {
            const double y = number_at(target, i);
            if (y != 0.0 && y != 1.0) return false;
        }
        return true;
    }

    // Resolves the objective from the config and the target, and fills the labels the fit needs.
    static Task resolve_task(trellis::Context& ctx, const std::string& objective, const Column& target,
                             const std::vector<size_t>& rows, Data& data) {
        const bool zero_one = is_zero_one(target, rows);
        const bool classify = objective == "logistic" || objective == "multinomial" || objective == "softmax" ||
                              (objective == "auto" && (zero_one || target.type() == ColumnType::String));
        if (!classify) {
            collect_values(target, rows, data);
            if (objective == "auto") warn_if_classes(ctx, data, target.name());
            return {"regression", {}, true};
        }
        Task task;
        std::map<std::string, size_t> index;
        std::vector<std::string> row_labels = class_labels_of(target, rows, zero_one, objective);
        {
            // class_labels() fixes the class order every classifier of the convention shares.
            Column usable(target.name(), target.type() == ColumnType::String ? ColumnType::String : ColumnType::Int64);
            for (const std::string& label : row_labels)
                usable.type() == ColumnType::String ? usable.append_string(label) : usable.append_int(std::stoll(label));
            task.classes = trellis::class_labels(usable);
            task.integer_labels = trellis::has_integer_labels(usable);
        }
        if (task.classes.size() < 2)
            throw std::invalid_argument("train.linear: target column '" + target.name() + "' holds only one class ('" +
                                        task.classes.front() + "') in the training rows; a classifier needs at least two");
        for (size_t k = 0; k < task.classes.size(); ++k) index[task.classes[k]] = k;
        data.labels.clear();
        data.y.clear();
        for (const std::string& label : row_labels) {
            data.labels.push_back(index.at(label));
            data.y.push_back(data.labels.back() == 1 ? 1.0 : 0.0);
        }
        const bool binary = task.classes.size() == 2 && (objective == "logistic" || objective == "auto");
        task.objective = binary ? "logistic" : "multinomial";
        if (objective == "logistic" && !binary)
            ctx.log().info("objective logistic: target '" + target.name() + "' has " + std::to_string(task.classes.size()) +
                           " classes, so a multinomial (softmax) model is fitted, as scikit-learn does");
        return task;
    }

    // Each usable row's class label as text. Floats are not class labels, except 0/1 floats, which
    // have always trained the binary model.
    static std::vector<std::string> class_labels_of(const Column& target, const std::vector<size_t>& rows, bool zero_one,
                                                    const std::string& objective) {
        std::vector<std::string> out;
        out.reserve(rows.size());
        if (target.type() == ColumnType::Float64) {
            if (!zero_one) {
                const auto bad = std::find_if(rows.begin(), rows.end(), [&](size_t i) {
                    const double y = target.float_at(i);
                    return y != 0.0 && y != 1.0;
                });
                throw std::invalid_argument("train.linear: objective " + objective + ": target column '" + target.name() +
                                            "' holds " + std::to_string(target.float_at(*bad)) + " at row " +
                                            std::to_string(*bad) + ", a float; class labels must be int, bool or string "
                                            "(read a CSV column as ints with types = { \"" + target.name() + ":int\" })");
            }
            for (size_t i : rows) out.push_back(target.float_at(i) == 1.0 ? "1" : "0");
            return out;
        }
        for (size_t i : rows) out.push_back(trellis::label_text(target, i));
        return out;
    }

    // A string column left out of the default features is often a number column spoiled by a
    // marker such as "NA": say which, and the first value that is not a number.
    static void warn_skipped_text_columns(trellis::Context& ctx, const trellis::Table& table, const std::string& target) {
        for (const Column& column : table.columns()) {
            if (column.name() == target || column.type() != ColumnType::String) continue;
            std::string example;
            for (size_t r = 0; r < column.size() && example.empty(); ++r)
                if (!column.is_null(r)) example = std::string(column.string_at(r));
            ctx.log().warn("features: leaving out string column '" + column.name() + "' (e.g. '" + example +
                           "'); list features explicitly, or clean or encode the column, to use it");
        }
    }

    // "auto" fits a regression to any numeric target that is not 0/1; a handful of whole-number
    // values is more likely a multi-class label.
    static void warn_if_classes(trellis::Context& ctx, const Data& data, const std::string& target) {
        std::set<double> values;
        for (double y : data.y) {
            if (y != std::floor(y)) return;
            values.insert(y);
            if (values.size() > 10) return;
        }
        std::string list;
        for (double v : values) list += (list.empty() ? "" : ", ") + std::to_string(static_cast<long long>(v));
        ctx.log().warn("objective auto: target '" + target + "' holds only the whole numbers " + list +
                       ", so a regression is fitted; if these are classes, set objective = \"multinomial\" (or "
                       "\"logistic\"), or set objective = \"regression\" to keep this");
    }

    // Features whose training values are all equal. scikit-learn's StandardScaler keeps such a
    // column with scale 1; so does this stage, and its weight comes out 0 when l2 > 0.
    static std::vector<size_t> constant_features(const Data& data) {
        std::vector<size_t> out;
        for (size_t j = 0; j < data.features; ++j) {
            bool constant = true;
            for (size_t i = 1; i < data.rows && constant; ++i) constant = data.at(i, j) == data.at(0, j);
            if (constant) out.push_back(j);
        }
        return out;
    }

    // With l2 = 0 a constant feature's weight is not determined (it only shifts the intercept), so
    // that is an error; with l2 > 0 it is fine, and logged.
    static void report_constant_features(trellis::Context& ctx, const LinearModel& model, const std::vector<size_t>& constant,
                                         double l2) {
        if (l2 == 0)
            throw std::invalid_argument("column '" + model.features[constant.front()] +
                                        "' is constant in the training rows, so with l2 = 0 its weight is undetermined; "
                                        "drop it or set l2 > 0");
        std::string names;
        for (size_t k = 0; k < constant.size() && k < 8; ++k) names += (k ? ", '" : "'") + model.features[constant[k]] + "'";
        if (constant.size() > 8) names += ", ... (" + std::to_string(constant.size()) + " columns)";
        ctx.log().info("features: " + names + (constant.size() == 1 ? " is" : " are") +
                       " constant in the training rows; kept with scale 1, weight 0");
    }

    // Puts features on one scale so that l2 penalises them evenly and Newton is well conditioned.
    // A constant feature is centred to exactly 0 and keeps scale 1, as StandardScaler does.
    static void standardize_in_place(Data& data, LinearModel& model, const std::vector<size_t>& constant) {
        const double n = static_cast<double>(data.rows);
        for (size_t j = 0; j < data.features; ++j) {
            if (std::find(constant.begin(), constant.end(), j) != constant.end()) {
                model.means[j] = data.at(0, j);
                model.scales[j] = 1.0;
                for (size_t i = 0; i < data.rows; ++i) data.x[i * data.features + j] = 0.0;
                continue;
            }
            double mean = 0;
            for (size_t i = 0; i < data.rows; ++i) mean += data.at(i, j);
            mean /= n;
            double var = 0;
            for (size_t i = 0; i < data.rows; ++i) var += (data.at(i, j) - mean) * (data.at(i, j) - mean);
            double scale = std::sqrt(var / n);
            if (!(scale > 0)) scale = 1.0; // differences too small for a double's square
            for (size_t i = 0; i < data.rows; ++i) data.x[i * data.features + j] = (data.at(i, j) - mean) / scale;
            model.means[j] = mean;
            model.scales[j] = scale;
        }
    }

    // Ridge in closed form on centred data, which leaves the intercept unpenalised.
    static void fit_ridge(const Data& data, double l2, LinearModel& model) {
        const size_t p = data.features, n = data.rows;
        std::vector<double> xbar(p, 0.0);
        double ybar = 0;
        for (size_t i = 0; i < n; ++i) {
            ybar += data.y[i];
            for (size_t j = 0; j < p; ++j) xbar[j] += data.at(i, j);
        }
        ybar /= static_cast<double>(n);
        for (double& v : xbar) v /= static_cast<double>(n);
        Matrix a(p);
        std::vector<double> rhs(p, 0.0);
        std::vector<double> xc(p);
        for (size_t i = 0; i < n; ++i) {
            for (size_t j = 0; j < p; ++j) xc[j] = data.at(i, j) - xbar[j];
            const double yc = data.y[i] - ybar;
            for (size_t j = 0; j < p; ++j) {
                rhs[j] += xc[j] * yc;
                for (size_t k = 0; k < p; ++k) a(j, k) += xc[j] * xc[k];
            }
        }
        for (size_t j = 0; j < p; ++j) a(j, j) += l2;
        model.weights = solve(a, rhs,
                              "regression: the features are collinear (or fewer rows than features), so the least-squares "
                              "system is singular; set l2 > 0 or drop redundant features");
        double intercept = ybar;
        for (size_t j = 0; j < p; ++j) intercept -= xbar[j] * model.weights[j];
        model.intercepts = {intercept};
    }

    // Penalised logistic loss at theta = (intercept, weights...): the learning curve, and the test
    // that a Newton step really improved things.
    static double logistic_loss(const Data& data, double l2, const std::vector<double>& theta) {
        double loss = 0;
        for (size_t i = 0; i < data.rows; ++i) {
            double t = theta[0];
            for (size_t j = 0; j < data.features; ++j) t += theta[j + 1] * data.at(i, j);
            loss += softplus(t) - data.y[i] * t;
        }
        for (size_t j = 1; j < theta.size(); ++j) loss += 0.5 * l2 * theta[j] * theta[j];
        return loss;
    }

    // Newton's method: few, deterministic iterations to the exact optimum of a smooth convex loss.
    // Step halving guards the rare overshoot far from the optimum.
    static void fit_logistic(trellis::Context& ctx, const Data& data, double l2, int64_t max_iterations,
                             double tolerance, LinearModel& model) {
        const size_t p = data.features + 1, n = data.rows;
        std::vector<double> theta(p, 0.0);
        double loss = logistic_loss(data, l2, theta);
        ctx.log_metric("train_loss", loss, 0);
        bool converged = false;
        int64_t iteration = 0;
        std::vector<double> z(p);
        while (iteration < max_iterations && !converged) {
            ctx.throw_if_cancelled();
            ++iteration;
            Matrix hessian(p);
            std::vector<double> gradient(p, 0.0);
            for (size_t i = 0; i < n; ++i) {
                z[0] = 1.0;
                double t = theta[0];
                for (size_t j = 1; j < p; ++j) {
                    z[j] = data.at(i, j - 1);
                    t += theta[j] * z[j];
                }
                const double prob = trellis_linear::sigmoid(t);
                const double weight = prob * (1.0 - prob);
                for (size_t j = 0; j < p; ++j) {
                    gradient[j] += (prob - data.y[i]) * z[j];
                    for (size_t k = 0; k <= j; ++k) hessian(j, k) += weight * z[j] * z[k];
                }
            }
            for (size_t j = 0; j < p; ++j)
                for (size_t k = j + 1; k < p; ++k) hessian(j, k) = hessian(k, j);
            for (size_t j = 1; j < p; ++j) {
                gradient[j] += l2 * theta[j];
                hessian(j, j) += l2;
            }
            const std::vector<double> step = solve(
                hessian, gradient,
                "logistic: the Newton system is singular (collinear features, or classes perfectly separated with "
                "l2 = 0); set l2 > 0");
            std::vector<double> next(p);
            double scale = 1.0, next_loss = 0;
            for (int halving = 0;; ++halving) {
                for (size_t j = 0; j < p; ++j) next[j] = theta[j] - scale * step[j];
                next_loss = logistic_loss(data, l2, next);
                if (next_loss <= loss || halving == 30) break;
                scale *= 0.5;
            }
            double largest = 0;
            for (size_t j = 0; j < p; ++j) largest = std::max(largest, std::abs(next[j] - theta[j]));
            theta = next;
            loss = next_loss;
            ctx.log_metric("train_loss", loss, iteration);
            converged = largest < tolerance;
        }
        if (converged)
            ctx.log().info("logistic: converged after " + std::to_string(iteration) + " Newton steps, loss " +
                           std::to_string(loss));
        else
            ctx.log().warn("logistic: stopped after max_iterations = " + std::to_string(max_iterations) +
                           " Newton steps without converging to tolerance " + std::to_string(tolerance));
        model.intercepts = {theta[0]};
        model.weights.assign(theta.begin() + 1, theta.end());
    }

    // Softmax regression over every class (weights per class, as scikit-learn fits it), by Newton-CG.
    static void fit_softmax(trellis::Context& ctx, const Data& data, double l2, int64_t max_iterations,
                            double tolerance, LinearModel& model) {
        trellis_linear::MultinomialProblem problem;
        problem.rows = data.rows;
        problem.features = data.features;
        problem.classes = model.classes.size();
        problem.x = data.x.data();
        problem.labels = data.labels.data();
        problem.l2 = l2;
        problem.max_iterations = max_iterations;
        problem.tolerance = tolerance;
        const auto fit = trellis_linear::fit_multinomial(problem, [&](int64_t step, double loss) {
            ctx.throw_if_cancelled();
            ctx.log_metric("train_loss", loss, step);
            if (step > 0) ctx.log().debug("multinomial: Newton step " + std::to_string(step) + ", loss " + std::to_string(loss));
        });
        if (fit.converged)
            ctx.log().info("multinomial: converged after " + std::to_string(fit.iterations) + " Newton steps, loss " +
                           std::to_string(fit.loss));
        else
            ctx.log().warn("multinomial: stopped after max_iterations = " + std::to_string(max_iterations) +
                           " Newton steps without converging to tolerance " + std::to_string(tolerance));
        model.weights = fit.weights;
        model.intercepts = fit.intercepts;
    }
};

const trellis::PluginInfo info{
    .name = "train-linear",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "linear and logistic regression with the \"linear\" model flavor",
};

} // namespace

TRELLIS_PLUGIN(info, LinearTrainer, trellis_linear::LinearFlavor)

// Encoding, decoding and prediction of "linear" models.
#include "linear_model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace trellis_linear {
namespace {

// Locale-independent "%.17g": 17 significant digits always round-trip a double exactly.
std::string format_double(double value) {
    if (!std::isfinite(value)) throw std::invalid_argument("cannot encode a non-finite model parameter");
    char text[64];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value, std::chars_format::general, 17);
    if (ec != std::errc()) throw std::logic_error("cannot format a double");
    return std::string(text, end);
}

// Feature names are user text: escaped so any name survives the JSON round trip.
std::string quote(std::string_view text) { return trellis::detail::json_quote(text); }

// A JSON array of exactly round-tripping doubles.
std::string number_list(const std::vector<double>& values) {
    std::string out = "[";
    for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + format_double(values[i]);
    return out + "]";
}

// The little JSON this format needs: objects, arrays, strings, numbers (no true/false/null). A
// hand-written reader, because a plugin links the SDK only and the format is tiny.
// A parsed JSON value; a variant keeps the reader small and the type checks explicit.
struct Json;
using JsonArray = std::vector<Json>;
using JsonObject = std::map<std::string, Json>;
struct Json {
    std::variant<double, std::string, JsonArray, JsonObject> value;
};

// Recursive-descent reader; errors give the byte offset so corrupt model files can be located.
class JsonReader {
public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    // The one value the text must consist of; trailing text is refused so bytes map to one model.
    Json document() {
        Json out = value(0);
        skip_space();
        if (pos_ != text_.size()) fail("trailing text");
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::invalid_argument("linear model bytes are not valid: " + why + " at byte " + std::to_string(pos_));
    }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' || text_[pos_] == '\r'))
            ++pos_;
    }
    bool take(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
        return false;
    }
    void expect(char c) {
        if (!take(c)) fail(std::string("expected '") + c + "'");
    }

    Json value(int depth) {
        if (depth > 8) fail("nesting too deep");
        skip_space();
        if (pos_ >= text_.size()) fail("unexpected end");
        const char c = text_[pos_];
        if (c == '{') return {object(depth)};
        if (c == '[') return {array(depth)};
        if (c == '"') return {string()};
        return {number()};
    }
    JsonObject object(int depth) {
        expect('{');
        JsonObject out;
        if (take('}')) return out;
        do {
            skip_space();
            std::string key = string();
            expect(':');
            if (!out.emplace(key, value(depth + 1)).second) fail("duplicate key '" + key + "'");
        } while (take(','));
        expect('}');
        return out;
    }
    JsonArray array(int depth) {
        expect('[');
        JsonArray out;
        if (take(']')) return out;
        do out.push_back(value(depth + 1));
        while (take(','));
        expect(']');
        return out;
    }
    std::string string() {
        if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string");
        ++pos_;
        std::string out;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            char c = text_[pos_++];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) fail("unterminated escape");
            c = text_[pos_++];
            switch (c) {
            case '"': case '\\': case '/': out += c; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'u': {
                if (text_.size() - pos_ < 4) fail("short \\u escape");
                unsigned code = 0;
                const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
                if (ec != std::errc() || end != text_.data() + pos_ + 4) fail("bad \\u escape");
                pos_ += 4;
                if (code >= 0xD800 && code <= 0xDFFF) fail("surrogate \\u escape");
                if (code < 0x80) {
                    out += static_cast<char>(code);
                } else if (code < 0x800) {
                    out += static_cast<char>(0xC0 | (code >> 6));
                    out += static_cast<char>(0x80 | (code & 0x3F));
                } else {
                    out += static_cast<char>(0xE0 | (code >> 12));
                    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
                    out += static_cast<char>(0x80 | (code & 0x3F));
                }
                break;
            }
            default: fail("bad escape");
            }
        }
        if (pos_ >= text_.size()) fail("unterminated string");
        ++pos_;
        return out;
    }
    double number() {
        const char* begin = text_.data() + pos_;
        double out = 0;
        const auto [end, ec] = std::from_chars(begin, text_.data() + text_.size(), out);
        if (ec != std::errc() || end == begin) fail("expected a value");
        pos_ += static_cast<size_t>(end - begin);
        return out;
    }

    std::string_view text_;
    size_t pos_ = 0;
};

// Required keys: a missing one names the key instead of failing later with a vague message.
const Json& field(const JsonObject& object, const std::string& key) {
    const auto found = object.find(key);
    if (found == object.end()) throw std::invalid_argument("linear model bytes have no '" + key + "'");
    return found->second;
}
// A required key of one JSON type, naming the key when the type is wrong.
template <class T> const T& field_as(const JsonObject& object, const std::string& key, const char* what) {
    const T* value = std::get_if<T>(&field(object, key).value);
    if (!value) throw std::invalid_argument("linear model bytes: '" + key + "' is not " + what);
    return *value;
}
// An array of finite numbers: a NaN parameter would silently poison every prediction.
std::vector<double> numbers(const JsonObject& object, const std::string& key) {
    std::vector<double> out;
    for (const Json& item : field_as<JsonArray>(object, key, "an array")) {
        const double* value = std::get_if<double>(&item.value);
        if (!value || !std::isfinite(*value)) throw std::invalid_argument("linear model bytes: '" + key + "' holds a non-number");
        out.push_back(*value);
    }
    return out;
}

// P(class) of every class from one row's class scores, shifted by the largest score so exp()
// cannot overflow.
void softmax(const double* scores, size_t classes, double* out) {
    double largest = scores[0];
    for (size_t k = 1; k < classes; ++k) largest = std::max(largest, scores[k]);
    double sum = 0;
    for (size_t k = 0; k < classes; ++k) sum += out[k] = std::exp(scores[k] - largest);
    for (size_t k = 0; k < classes; ++k) out[k] /= sum;
}

// A loaded model ready to score tables; checks each request's columns since they come from users.
class LinearPredictor : public trellis::Predictor {
public:
    explicit LinearPredictor(LinearModel model) : model_(std::move(model)) {}

    // Scores rows column by column (cache-friendly on columnar input); errors name column and row
    // because the caller's data, not the model, is usually at fault.
    trellis::Table predict(const trellis::Table& input) override {
        const size_t rows = input.num_rows();
        const size_t scores = model_.intercepts.size(), p = model_.features.size();
        std::vector<double> score(rows * scores);
        for (size_t i = 0; i < rows; ++i)
            for (size_t k = 0; k < scores; ++k) score[i * scores + k] = model_.intercepts[k];
        for (size_t j = 0; j < p; ++j) {
            const std::string& name = model_.features[j];
            const trellis::Column* column = input.find(name);
            if (!column) throw std::invalid_argument("the model needs column '" + name + "', which the input lacks");
            if (column->type() == trellis::ColumnType::String)
                throw std::invalid_argument("column '" + name + "' is a string column; the model needs numbers");
            for (size_t i = 0; i < rows; ++i) {
                if (column->is_null(i))
                    throw std::invalid_argument("column '" + name + "' is null at row " + std::to_string(i));
                double x = 0;
                switch (column->type()) {
                case trellis::ColumnType::Int64: x = static_cast<double>(column->int_at(i)); break;
                case trellis::ColumnType::Float64: x = column->float_at(i); break;
                case trellis::ColumnType::Bool: x = column->bool_at(i) ? 1.0 : 0.0; break;
                case trellis::ColumnType::String: break;
                }
                for (size_t k = 0; k < scores; ++k)
                    score[i * scores + k] += model_.weights[k * p + j] * (x - model_.means[j]) / model_.scales[j];
            }
        }
        if (model_.objective == "regression") return single_column(score, [](double s) { return s; });
        if (model_.is_binary_01()) return binary_01(score);
        // Any other classifier: per-class probabilities as predictions.hpp lays them out.
        const size_t classes = model_.classes.size();
        std::vector<double> probabilities(rows * classes);
        for (size_t i = 0; i < rows; ++i) {
            if (model_.objective == "logistic") {
                probabilities[i * 2 + 1] = sigmoid(score[i]);
                probabilities[i * 2] = 1.0 - probabilities[i * 2 + 1];
            } else {
                softmax(&score[i * classes], classes, &probabilities[i * classes]);
            }
        }
        return trellis::classification_predictions(model_.classes, model_.integer_labels, probabilities);
    }

private:
    // Regression: the score itself as the float "prediction".
    template <class F> static trellis::Table single_column(const std::vector<double>& score, F value) {
        trellis::Column prediction(std::string(trellis::prediction_column), trellis::ColumnType::Float64);
        prediction.reserve(score.size());
        for (double s : score) prediction.append_float(value(s));
        trellis::Table out;
        out.add_column(std::move(prediction));
        return out;
    }

    // The 0/1 logistic model's columns, unchanged since the first release: "probability" and an
    // int "prediction" thresholded at 0.5.
    static trellis::Table binary_01(const std::vector<double>& score) {
        trellis::Column probability(std::string(trellis::probability_column), trellis::ColumnType::Float64);
        trellis::Column prediction(std::string(trellis::prediction_column), trellis::ColumnType::Int64);
        probability.reserve(score.size());
        prediction.reserve(score.size());
        for (double s : score) {
            const double p = sigmoid(s);
            probability.append_float(p);
            prediction.append_int(p >= 0.5 ? 1 : 0);
        }
        trellis::Table out;
        out.add_column(std::move(probability));
        out.add_column(std::move(prediction));
        return out;
    }

    LinearModel model_;
};

} // namespace

double sigmoid(double score) {
    if (score >= 0) return 1.0 / (1.0 + std::exp(-score));
    const double e = std::exp(score);
    return e / (1.0 + e);
}

std::string encode(const LinearModel& model) {
    std::string features = "[";
    for (size_t i = 0; i < model.features.size(); ++i) features += (i ? "," : "") + quote(model.features[i]);
    features += "]";
    const std::string common = ",\"objective\":" + quote(model.objective) + ",\"features\":" + features +
                               ",\"means\":" + number_list(model.means) + ",\"scales\":" + number_list(model.scales);
    // Version 1 where it can say everything, so such models keep the bytes (and digests) they had.
    if (model.objective == "regression" || model.is_binary_01())
        return "{\"format\":\"trellis.linear\",\"version\":1" + common + ",\"weights\":" + number_list(model.weights) +
               ",\"intercept\":" + format_double(model.intercepts.at(0)) + "}";
    std::string classes = "[", weights = "[";
    const size_t p = model.features.size();
    for (size_t k = 0; k < model.classes.size(); ++k) classes += (k ? "," : "") + quote(model.classes[k]);
    for (size_t k = 0; k < model.intercepts.size(); ++k)
        weights += (k ? "," : "") + number_list(std::vector<double>(model.weights.begin() + static_cast<std::ptrdiff_t>(k * p),
                                                                    model.weights.begin() + static_cast<std::ptrdiff_t>((k + 1) * p)));
    return "{\"format\":\"trellis.linear\",\"version\":2" + common + ",\"classes\":" + classes + "]" +
           ",\"label_type\":" + quote(model.integer_labels ? "int" : "string") + ",\"weights\":" + weights + "]" +
           ",\"intercepts\":" + number_list(model.intercepts) + "}";
}

namespace {

// The parts both versions share: objective, features, means and scales.
LinearModel decode_common(const JsonObject& object) {
    LinearModel model;
    model.objective = field_as<std::string>(object, "objective", "a string");
    for (const Json& item : field_as<JsonArray>(object, "features", "an array")) {
        const auto* name = std::get_if<std::string>(&item.value);
        if (!name) throw std::invalid_argument("linear model bytes: 'features' holds a non-string");
        model.features.push_back(*name);
    }
    model.means = numbers(object, "means");
    model.scales = numbers(object, "scales");
    const size_t p = model.features.size();
    if (model.means.size() != p || model.scales.size() != p)
        throw std::invalid_argument("linear model bytes: means, scales and weights must have one entry per feature");
    for (double scale : model.scales)
        if (!(scale > 0)) throw std::invalid_argument("linear model bytes: a scale is not positive");
    return model;
}

// Version 1: regression, or logistic regression of 0/1 labels, with one weight list and intercept.
LinearModel decode_v1(const JsonObject& object) {
    LinearModel model = decode_common(object);
    if (model.objective != "regression" && model.objective != "logistic")
        throw std::invalid_argument("linear model bytes: unknown objective '" + model.objective + "'");
    model.weights = numbers(object, "weights");
    model.intercepts = {field_as<double>(object, "intercept", "a number")};
    if (model.weights.size() != model.features.size())
        throw std::invalid_argument("linear model bytes: means, scales and weights must have one entry per feature");
    if (model.objective == "logistic") model.classes = {"0", "1"};
    if (object.size() != 8) throw std::invalid_argument("linear model bytes: unexpected keys");
    return model;
}

// Version 2: classifiers of any labels; one weight row per score (1 for logistic, one per class
// for multinomial).
LinearModel decode_v2(const JsonObject& object) {
    LinearModel model = decode_common(object);
    if (model.objective != "logistic" && model.objective != "multinomial")
        throw std::invalid_argument("linear model bytes: version 2 has no objective '" + model.objective + "'");
    const std::string& label_type = field_as<std::string>(object, "label_type", "a string");
    if (label_type != "int" && label_type != "string")
        throw std::invalid_argument("linear model bytes: 'label_type' must be \"int\" or \"string\"");
    model.integer_labels = label_type == "int";
    for (const Json& item : field_as<JsonArray>(object, "classes", "an array")) {
        const auto* label = std::get_if<std::string>(&item.value);
        if (!label) throw std::invalid_argument("linear model bytes: 'classes' holds a non-string");
        if (model.integer_labels) { // the flavor turns these into int predictions
            int64_t value = 0;
            const auto [end, ec] = std::from_chars(label->data(), label->data() + label->size(), value);
            if (ec != std::errc() || end != label->data() + label->size() || label->empty())
                throw std::invalid_argument("linear model bytes: class '" + *label + "' is not an int label");
        }
        if (std::find(model.classes.begin(), model.classes.end(), *label) != model.classes.end())
            throw std::invalid_argument("linear model bytes: class '" + *label + "' is listed twice");
        model.classes.push_back(*label);
    }
    if (model.classes.size() < 2) throw std::invalid_argument("linear model bytes: a classifier needs two or more classes");
    const size_t scores = model.objective == "logistic" ? 1 : model.classes.size();
    if (model.objective == "logistic" && model.classes.size() != 2)
        throw std::invalid_argument("linear model bytes: a logistic model has exactly two classes");
    const auto& rows = field_as<JsonArray>(object, "weights", "an array");
    if (rows.size() != scores)
        throw std::invalid_argument("linear model bytes: 'weights' must have " + std::to_string(scores) + " rows");
    for (const Json& row : rows) {
        const auto* values = std::get_if<JsonArray>(&row.value);
        if (!values || values->size() != model.features.size())
            throw std::invalid_argument("linear model bytes: each 'weights' row must have one number per feature");
        for (const Json& item : *values) {
            const double* value = std::get_if<double>(&item.value);
            if (!value || !std::isfinite(*value)) throw std::invalid_argument("linear model bytes: 'weights' holds a non-number");
            model.weights.push_back(*value);
        }
    }
    model.intercepts = numbers(object, "intercepts");
    if (model.intercepts.size() != scores)
        throw std::invalid_argument("linear model bytes: 'intercepts' must have " + std::to_string(scores) + " entries");
    if (object.size() != 10) throw std::invalid_argument("linear model bytes: unexpected keys");
    return model;
}

} // namespace

LinearModel decode(std::string_view text) {
    const Json document = JsonReader(text).document();
    const auto* object = std::get_if<JsonObject>(&document.value);
    if (!object) throw std::invalid_argument("linear model bytes are not a JSON object");
    if (field_as<std::string>(*object, "format", "a string") != "trellis.linear")
        throw std::invalid_argument("linear model bytes: 'format' is not \"trellis.linear\"");
    const double version = field_as<double>(*object, "version", "a number");
    if (version == 1) return decode_v1(*object);
    if (version == 2) return decode_v2(*object);
    throw std::invalid_argument("linear model bytes: unsupported version " + format_double(version) +
                                " (this plugin reads versions 1 to " + std::to_string(format_version) + ")");
}

std::unique_ptr<trellis::Predictor> LinearFlavor::load(const trellis::Model& model) {
    LinearModel linear = decode(std::string_view(reinterpret_cast<const char*>(model.bytes.data()), model.bytes.size()));
    // The signature is what the host shows and checks; it must describe the same columns.
    bool same = model.signature.size() == linear.features.size();
    for (size_t i = 0; same && i < linear.features.size(); ++i) same = model.signature[i].name == linear.features[i];
    if (!same) throw std::invalid_argument("linear model: the signature does not list the model's features in order");
    return std::make_unique<LinearPredictor>(std::move(linear));
}

} // namespace trellis_linear

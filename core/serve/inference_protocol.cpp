#include "serve/inference_protocol.hpp"

#include "serve/json_text.hpp"


#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

namespace trellis::serve {

namespace {

using json = nlohmann::json;
namespace dom = simdjson::dom;

// Checked before parsing, so a body of a million '[' costs one pass and no parser stack.
void check_depth(std::string_view body, size_t max_depth) {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                throw ProtocolError(400, "request body nests deeper than the limit of " + std::to_string(max_depth));
        } else if (c == ']' || c == '}') {
            if (depth > 0) --depth;
        }
    }
}

enum class Datatype { Bool, Int32, Int64, Fp32, Fp64, Bytes };

Datatype parse_datatype(dom::element value, const std::string& where) {
    if (!value.is_string()) throw ProtocolError(400, where + ".datatype must be a string such as FP32");
    const std::string_view name(value);
    if (name == "BOOL") return Datatype::Bool;
    if (name == "INT32") return Datatype::Int32;
    if (name == "INT64") return Datatype::Int64;
    if (name == "FP32") return Datatype::Fp32;
    if (name == "FP64") return Datatype::Fp64;
    if (name == "BYTES") return Datatype::Bytes;
    throw ProtocolError(400, where + ".datatype '" + std::string(name) +
                                 "' is not supported; use FP32, FP64, INT64, INT32, BOOL or BYTES");
}

// The tensor's elements in row-major order: "data" may be flat or nested as the shape is.
void flatten(dom::element data, std::vector<dom::element>& out) {
    if (data.is_array()) {
        for (dom::element element : dom::array(data)) flatten(element, out);
        return;
    }
    out.push_back(data);
}

// A member of an object, if it has one.
std::optional<dom::element> member(dom::object object, std::string_view key) {
    dom::element value;
    if (object.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
    return value;
}

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    Datatype datatype = Datatype::Fp64;
    std::vector<dom::element> elements;
    std::string where;
};

Tensor read_tensor(dom::element input, size_t index) {
    Tensor tensor;
    tensor.where = "inputs[" + std::to_string(index) + "]";
    if (!input.is_object()) throw ProtocolError(400, tensor.where + " must be an object with name, shape, datatype and data");
    const dom::object object(input);
    const auto name = member(object, "name");
    if (!name || !name->is_string() || std::string_view(*name).empty())
        throw ProtocolError(400, tensor.where + ".name must be a non-empty string");
    tensor.name = std::string(std::string_view(*name));
    tensor.where = "inputs[" + std::to_string(index) + "] ('" + tensor.name + "')";
    const auto datatype = member(object, "datatype");
    if (!datatype) throw ProtocolError(400, tensor.where + " has no datatype");
    tensor.datatype = parse_datatype(*datatype, tensor.where);
    const auto shape = member(object, "shape");
    if (!shape || !shape->is_array() || dom::array(*shape).size() == 0)
        throw ProtocolError(400, tensor.where + ".shape must be a non-empty array of sizes");
    int64_t count = 1;
    for (dom::element size : dom::array(*shape)) {
        int64_t value = 0;
        if (size.type() != dom::element_type::INT64 || (value = int64_t(size)) < 0)
            throw ProtocolError(400, tensor.where + ".shape must hold non-negative whole numbers");
        tensor.shape.push_back(value);
        if (value > 0 && count > std::numeric_limits<int32_t>::max() / value)
            throw ProtocolError(400, tensor.where + ".shape is too large");
        count *= value;
    }
    const auto data = member(object, "data");
    if (!data) throw ProtocolError(400, tensor.where + " has no data");
    tensor.elements.reserve(static_cast<size_t>(std::min<int64_t>(count, 1 << 16)));
    flatten(*data, tensor.elements);
    if (static_cast<int64_t>(tensor.elements.size()) != count)
        throw ProtocolError(400, tensor.where + " has " + std::to_string(tensor.elements.size()) +
                                     " elements but its shape holds " + std::to_string(count));
    return tensor;
}

std::string_view datatype_name(Datatype datatype) {
    switch (datatype) {
    case Datatype::Bool: return "BOOL";
    case Datatype::Int32: return "INT32";
    case Datatype::Int64: return "INT64";
    case Datatype::Fp32: return "FP32";
    case Datatype::Fp64: return "FP64";
    case Datatype::Bytes: return "BYTES";
    }
    return "?";
}

// Appends element `i` of `tensor` to `column`, checking it is what the datatype says and what
// the column can hold.
void append_element(Column& column, const Tensor& tensor, size_t i) {
    const dom::element value = tensor.elements[i];
    const auto at = [&] { return tensor.where + ".data[" + std::to_string(i) + "]"; };
    const dom::element_type type = value.type();
    switch (tensor.datatype) {
    case Datatype::Fp32:
    case Datatype::Fp64: {
        double number = 0;
        if (type == dom::element_type::DOUBLE) number = double(value);
        else if (type == dom::element_type::INT64) number = static_cast<double>(int64_t(value));
        else if (type == dom::element_type::UINT64) number = static_cast<double>(uint64_t(value));
        else throw ProtocolError(400, at() + " is not a number");
        if (!std::isfinite(number) ||
            (tensor.datatype == Datatype::Fp32 && std::fabs(number) > std::numeric_limits<float>::max()))
            throw ProtocolError(400, at() + " is not a finite " + std::string(datatype_name(tensor.datatype)) + " number");
        if (column.type() == ColumnType::Float64) return column.append_float(number);
        break;
    }
    case Datatype::Int32:
    case Datatype::Int64: {
        if (type == dom::element_type::UINT64)
            throw ProtocolError(400, at() + " is out of range for " + std::string(datatype_name(tensor.datatype)));
        if (type != dom::element_type::INT64) throw ProtocolError(400, at() + " is not a whole number");
        const int64_t number = int64_t(value);
        if (tensor.datatype == Datatype::Int32 &&
            (number < std::numeric_limits<int32_t>::min() || number > std::numeric_limits<int32_t>::max()))
            throw ProtocolError(400, at() + " is out of range for INT32");
        if (column.type() == ColumnType::Int64) return column.append_int(number);
        if (column.type() == ColumnType::Float64) return column.append_float(static_cast<double>(number));
        break;
    }
    case Datatype::Bool:
        if (type != dom::element_type::BOOL) throw ProtocolError(400, at() + " is not true or false");
        if (column.type() == ColumnType::Bool) return column.append_bool(bool(value));
        break;
    case Datatype::Bytes:
        if (type != dom::element_type::STRING) throw ProtocolError(400, at() + " is not a string");
        if (column.type() == ColumnType::String) return column.append_string(std::string_view(value));
        break;
    }
    throw ProtocolError(400, tensor.where + ": datatype " + std::string(datatype_name(tensor.datatype)) +
                                 " does not fit model input '" + column.name() + "', which is " +
                                 std::string(v2_datatype(column.type())));
}

} // namespace

std::string_view v2_datatype(ColumnType type) {
    switch (type) {
    case ColumnType::Int64: return "INT64";
    case ColumnType::Float64: return "FP64";
    case ColumnType::Bool: return "BOOL";
    case ColumnType::String: return "BYTES";
    }
    return "BYTES";
}

std::string error_json(const std::string& message) { return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace); }

// Each request thread parses with a parser of its own, reused: its buffers grow to the largest
// body seen and are not allocated again. The elements of a parse live until the thread's next one.
static dom::parser& thread_parser() {
    thread_local dom::parser parser;
    return parser;
}

struct InputTensors {
    dom::array tensors;
};

InferRequest parse_infer_request(std::string_view body, size_t max_depth) {
    check_depth(body, max_depth);
    dom::element document;
    if (const auto error = thread_parser().parse(body.data(), body.size()).get(document); error != simdjson::SUCCESS)
        throw ProtocolError(400, std::string("request body is not valid JSON: ") + simdjson::error_message(error));
    if (!document.is_object()) throw ProtocolError(400, "request body must be a JSON object with 'inputs'");
    const dom::object object(document);
    InferRequest request;
    if (const auto id = member(object, "id")) {
        if (!id->is_string()) throw ProtocolError(400, "id must be a string");
        request.id = std::string(std::string_view(*id));
    }
    if (const auto parameters = member(object, "parameters")) {
        if (!parameters->is_object()) throw ProtocolError(400, "parameters must be an object");
        request.parameters = json::parse(simdjson::minify(*parameters));
    }
    if (const auto outputs = member(object, "outputs")) {
        if (!outputs->is_array()) throw ProtocolError(400, "outputs must be an array of {\"name\": ...}");
        size_t i = 0;
        for (dom::element output : dom::array(*outputs)) {
            const auto name = output.is_object() ? member(dom::object(output), "name") : std::nullopt;
            if (!name || !name->is_string())
                throw ProtocolError(400, "outputs[" + std::to_string(i) + "].name must be a string");
            request.outputs.emplace_back(std::string_view(*name));
            ++i;
        }
    }
    const auto inputs = member(object, "inputs");
    if (!inputs || !inputs->is_array() || dom::array(*inputs).size() == 0)
        throw ProtocolError(400, "inputs must be a non-empty array of tensors");
    request.inputs = std::make_shared<const InputTensors>(InputTensors{dom::array(*inputs)});
    return request;
}

InferRequest decode_infer_request(std::string_view body, const std::vector<Field>& fields, size_t max_depth) {
    InferRequest request = parse_infer_request(body, max_depth);
    bind_inputs(request, fields);
    return request;
}

void bind_inputs(InferRequest& request, const std::vector<Field>& fields) {
    if (!request.inputs) throw ProtocolError(400, "inputs must be a non-empty array of tensors");
    request.features = Table();
    request.features.reserve(fields.size());
    std::vector<Tensor> tensors;
    size_t index = 0;
    for (dom::element input : request.inputs->tensors) tensors.push_back(read_tensor(input, index++));

    // One [N, F] tensor holding every column in the model's order (how Triton and MLServer clients
    // send a feature matrix), unless it is named as the model's only column.
    if (tensors.size() == 1 && tensors[0].shape.size() == 2 &&
        !(fields.size() == 1 && tensors[0].name == fields[0].name && tensors[0].shape[1] == 1)) {
        const Tensor& tensor = tensors[0];
        if (tensor.shape[1] != static_cast<int64_t>(fields.size()))
            throw ProtocolError(400, tensor.where + " has shape [" + std::to_string(tensor.shape[0]) + ", " +
                                         std::to_string(tensor.shape[1]) + "] but the model takes " +
                                         std::to_string(fields.size()) + " features per row");
        const size_t rows = static_cast<size_t>(tensor.shape[0]);
        for (size_t c = 0; c < fields.size(); ++c) {
            Column column(fields[c].name, fields[c].type);
            column.reserve(rows);
            for (size_t r = 0; r < rows; ++r) append_element(column, tensor, r * fields.size() + c);
            request.features.add_column(std::move(column));
        }
        return;
    }
    // One tensor per model input, matched by name.
    std::optional<int64_t> rows;
    for (const auto& field : fields) {
        const Tensor* found = nullptr;
        for (const auto& tensor : tensors)
            if (tensor.name == field.name) found = &tensor;
        if (!found) {
            std::string message = "inputs has no tensor '" + field.name + "'; the model takes ";
            for (size_t i = 0; i < fields.size() && i < 8; ++i) message += (i ? ", " : "") + fields[i].name;
            if (fields.size() > 8) message += ", ... (" + std::to_string(fields.size()) + " inputs)";
            throw ProtocolError(400, message + ", one tensor each, or one [N, " + std::to_string(fields.size()) + "] tensor");
        }
        const bool column_shape = found->shape.size() == 1 || (found->shape.size() == 2 && found->shape[1] == 1);
        if (!column_shape) throw ProtocolError(400, found->where + " must have shape [N] or [N, 1]");
        if (rows && *rows != found->shape[0])
            throw ProtocolError(400, found->where + " has " + std::to_string(found->shape[0]) + " rows, the others " +
                                         std::to_string(*rows));
        rows = found->shape[0];
        Column column(field.name, field.type);
        column.reserve(found->elements.size());
        for (size_t i = 0; i < found->elements.size(); ++i) append_element(column, *found, i);
        request.features.add_column(std::move(column));
    }
    for (const auto& tensor : tensors) {
        bool known = false;
        for (const auto& field : fields) known = known || field.name == tensor.name;
        if (!known) throw ProtocolError(400, tensor.where + " is not an input of the model");
    }
}

std::string encode_infer_response(const std::string& endpoint, const ServedModel& model, const InferRequest& request,
                                  const Table& predictions) {
    for (const auto& wanted : request.outputs)
        if (!predictions.find(wanted)) throw ProtocolError(400, "outputs: the model has no output '" + wanted + "'");
    std::string out;
    out.reserve(128 + predictions.num_rows() * predictions.num_columns() * 24);
    out += "{\"model_name\":";
    append_json_string(out, endpoint);
    out += ",\"model_version\":\"";
    append_json_number(out, model.version());
    out += '"';
    if (!request.id.empty()) {
        out += ",\"id\":";
        append_json_string(out, request.id);
    }
    out += ",\"outputs\":[";
    bool first = true;
    for (const auto& column : predictions.columns()) {
        if (!request.outputs.empty() &&
            std::find(request.outputs.begin(), request.outputs.end(), column.name()) == request.outputs.end())
            continue;
        if (!first) out += ',';
        first = false;
        out += "{\"name\":";
        append_json_string(out, column.name());
        out += ",\"datatype\":\"";
        out += v2_datatype(column.type());
        out += "\",\"shape\":[";
        append_json_number(out, static_cast<int64_t>(column.size()));
        out += "],\"data\":";
        append_json_column(out, column);
        out += '}';
    }
    out += "]}";
    return out;
}

} // namespace trellis::serve

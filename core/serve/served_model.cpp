#include "serve/served_model.hpp"

#include "registry/model_registry.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string_view>

namespace trellis::serve {

namespace {

// A row the model accepts: zero, false or "" in every input column.
Table warm_up_row(const std::vector<Field>& inputs) {
    Table table;
    for (const auto& field : inputs) {
        Column column(field.name, field.type);
        switch (field.type) {
        case ColumnType::Int64: column.append_int(0); break;
        case ColumnType::Float64: column.append_float(0); break;
        case ColumnType::Bool: column.append_bool(false); break;
        case ColumnType::String: column.append_string(""); break;
        }
        table.add_column(std::move(column));
    }
    return table;
}

} // namespace

std::string code_carrying_format(std::span<const uint8_t> bytes) {
    // Pickle protocol 2 and later start with PROTO (0x80) and the protocol number.
    if (bytes.size() >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5)
        return "it is a Python pickle, which runs code when it is read";
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), std::min<size_t>(bytes.size(), 1 << 20));
    for (std::string_view tag : {"!!python/", "!!ruby/", "!!java", "!<tag:yaml.org,2002:python", "tag:yaml.org,2002:python/"})
        if (text.find(tag) != std::string_view::npos)
            return "it is YAML carrying a '" + std::string(tag) + "' tag, which can build objects when it is read";
    return "";
}

ServedModel::ServedModel(std::string name, int64_t version, std::string digest, std::span<const uint8_t> bytes,
                         core::FlavorEntry flavor)
    : name_(std::move(name)), version_(version), digest_(std::move(digest)), flavor_(std::move(flavor)) {
    const std::string label = registry::version_label(name_, version_);
    Model model;
    try {
        model = deserialize_model(bytes);
    } catch (const std::exception& e) {
        throw std::runtime_error("model " + label + " is not a trellis model: " + e.what());
    }
    if (auto why = code_carrying_format(model.bytes); !why.empty())
        throw std::runtime_error("refusing to load model " + label + ": " + why);
    flavor_name_ = model.flavor;
    inputs_ = model.signature;
    if (!flavor_.flavor) throw std::runtime_error("model " + label + ": no flavor '" + flavor_name_ + "' is loaded");
    trellis_context context;
    trellis_error error;
    const int32_t status = flavor_.flavor->load(core::host_api(), &context, bytes.data(), bytes.size(), &predictor_, &error);
    if (status != TRELLIS_OK || !predictor_)
        throw std::runtime_error("flavor '" + flavor_name_ + "' could not load model " + label + ": " +
                                 (error.message.empty() ? "it returned no predictor" : error.message));
    try {
        const Table result = predict(warm_up_row(inputs_));
        if (result.num_rows() != 1)
            throw std::runtime_error("it returned " + std::to_string(result.num_rows()) + " rows for 1");
        for (const auto& column : result.columns()) outputs_.push_back({column.name(), column.type()});
    } catch (const std::exception& e) {
        flavor_.flavor->destroy(predictor_);
        predictor_ = nullptr;
        throw std::runtime_error("model " + label + " failed to warm up: " + e.what());
    }
}

ServedModel::~ServedModel() {
    if (predictor_) flavor_.flavor->destroy(predictor_);
}

Table ServedModel::predict(const Table& features) const {
    const std::vector<uint8_t> input = serialize(features);
    trellis_context context;
    trellis_buffer buffer;
    trellis_error error;
    const int32_t status =
        flavor_.flavor->predict(core::host_api(), &context, predictor_, input.data(), input.size(), &buffer, &error);
    if (status != TRELLIS_OK) throw std::runtime_error(error.message.empty() ? "the flavor failed" : error.message);
    return deserialize_table(buffer.bytes);
}

} // namespace trellis::serve

// The Open Inference Protocol V2 (KServe, Triton, MLServer) over REST: an infer request's JSON
// turned into the feature Table a model expects, and a prediction Table turned into the response.
// Decoding is separate from model resolution and from prediction; every refusal is a
// ProtocolError with the HTTP status and a message naming the request field at fault.
#pragma once

#include "serve/served_model.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trellis::serve {

class ProtocolError : public std::runtime_error {
public:
    ProtocolError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

struct InputTensors; // the request's input tensors as parsed, not yet mapped onto a model

// A decoded infer request.
struct InferRequest {
    std::string id;                    // the request's "id", if it gave one
    Table features;                    // one column per model input, in the model's order
    std::vector<std::string> outputs;  // the outputs asked for; empty: all
    nlohmann::json parameters;         // the request's "parameters", or null
    // The input tensors as sent, until bind_inputs maps them. They point into the parsing
    // thread's buffers: bind them on that thread before it parses another request.
    std::shared_ptr<const InputTensors> inputs;
};

// Parses `body` (rejecting nesting deeper than `max_depth`) and checks its envelope (id,
// parameters, outputs, a non-empty inputs array); the features stay unbound, so the model can be
// chosen from what the request says (an A/B key in its parameters) before its inputs are known.
InferRequest parse_infer_request(std::string_view body, size_t max_depth);
// Maps the request's input tensors onto the model's `inputs` into request.features: one tensor
// per input column (shape [N] or [N,1]), or a single [N, F] tensor with the F columns in the
// model's order.
void bind_inputs(InferRequest& request, const std::vector<Field>& inputs);
// parse_infer_request, then bind_inputs.
InferRequest decode_infer_request(std::string_view body, const std::vector<Field>& inputs, size_t max_depth);


// The response body: model name and version, the request id, and one output tensor per prediction
// column (or per requested output).
std::string encode_infer_response(const std::string& endpoint, const ServedModel& model, const InferRequest& request,
                                  const Table& predictions);

// {"error": message} as the protocol has it.
std::string error_json(const std::string& message);

// V2's datatype for a column type, e.g. FP64 for float.
std::string_view v2_datatype(ColumnType type);

} // namespace trellis::serve

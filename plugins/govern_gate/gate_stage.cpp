// govern.gate: checks a Metrics artifact against rules such as "auc >= 0.95" and fails the stage
// when any rule is broken, so that nothing downstream (export, deploy) runs on a model that does
// not meet the bar.
#include <trellis/sdk.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using trellis::json_number;
using trellis::json_string;

// Comparison of a rule; kept as an enum so the rule is parsed once and evaluated without text.
enum class Op { Ge, Gt, Le, Lt, Eq, Ne };

// A parsed rule, with the text as the pipeline author wrote it so messages quote it verbatim.
struct Rule {
    std::string text;
    std::string metric;
    Op op;
    std::string op_text;
    double threshold;
};

// The shortest text that reads back as `value`: what people want to see in a log or error line.
std::string short_number(double value) {
    char text[32];
    const auto result = std::to_chars(text, text + sizeof text, value);
    return std::string(text, result.ptr);
}

// Metric names in rules: what evaluation stages emit, and nothing that could be an operator.
bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-' || c == '/';
}

// Surrounding blanks are layout, not part of the rule people wrote.
std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// Parses "NAME OP NUMBER"; a bad rule is a config error, reported with the rule quoted.
Rule parse_rule(const std::string& raw) {
    const std::string_view text = trim(raw);
    const auto bad = [&](const std::string& why) {
        return std::invalid_argument("rules: cannot parse rule '" + raw + "': " + why +
                                     " (expected NAME OP NUMBER, e.g. 'auc >= 0.95', OP one of >= > <= < == !=)");
    };
    size_t pos = 0;
    while (pos < text.size() && is_name_char(text[pos])) ++pos;
    if (pos == 0) throw bad("missing metric name");
    Rule rule{std::string(trim(raw)), std::string(text.substr(0, pos)), Op::Ge, "", 0.0};
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;

    static const std::pair<std::string_view, Op> ops[] = {{">=", Op::Ge}, {"<=", Op::Le}, {"==", Op::Eq},
                                                          {"!=", Op::Ne}, {">", Op::Gt},  {"<", Op::Lt}};
    bool found = false;
    for (const auto& [symbol, op] : ops) {
        if (text.substr(pos, symbol.size()) == symbol) {
            rule.op = op;
            rule.op_text = symbol;
            pos += symbol.size();
            found = true;
            break;
        }
    }
    if (!found) throw bad(pos < text.size() ? "unknown operator at '" + std::string(text.substr(pos)) + "'"
                                            : "missing operator");
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;

    std::string_view number = text.substr(pos);
    if (number.empty()) throw bad("missing number");
    // from_chars takes no leading '+', but people write "delta > +0.1".
    if (number.size() > 1 && number[0] == '+' && number[1] != '-') number.remove_prefix(1);
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), rule.threshold);
    if (ec != std::errc() || end != number.data() + number.size())
        throw bad("'" + std::string(text.substr(pos)) + "' is not a number");
    if (!std::isfinite(rule.threshold)) throw bad("the threshold must be a finite number");
    return rule;
}

// NaN compares false with everything, and "!=" is no exception here: a NaN metric breaks every rule.
bool holds(const Rule& rule, double value) {
    if (std::isnan(value)) return false;
    switch (rule.op) {
    case Op::Ge: return value >= rule.threshold;
    case Op::Gt: return value > rule.threshold;
    case Op::Le: return value <= rule.threshold;
    case Op::Lt: return value < rule.threshold;
    case Op::Eq: return value == rule.threshold;
    case Op::Ne: return value != rule.threshold;
    }
    return false;
}

// The stage: a quality gate between evaluation and anything that ships a model.
class Gate : public trellis::GovernStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("govern.gate", "fails the pipeline unless every metric rule holds")
            .input("metrics", trellis::ArtifactType::Metrics, "metrics to check, e.g. from an evaluation stage")
            .output("report", trellis::ArtifactType::Report, "JSON: each rule, the metric's value and the outcome")
            .required("rules", trellis::ValueType::StringList,
                      "rules \"NAME OP NUMBER\", OP one of >= > <= < == !=, e.g. \"auc >= 0.95\"");
    }

    void run(trellis::Context& ctx) override {
        const auto texts = ctx.config<std::vector<std::string>>("rules");
        if (texts.empty()) throw std::invalid_argument("rules: at least one rule is needed");
        std::vector<Rule> rules;
        rules.reserve(texts.size());
        for (const auto& text : texts) rules.push_back(parse_rule(text));

        const trellis::Metrics metrics = ctx.input<trellis::Metrics>("metrics");
        // Every unknown metric is a config error, found before any rule is judged.
        for (const Rule& rule : rules) {
            if (metrics.values.count(rule.metric)) continue;
            std::string available;
            for (const auto& [name, value] : metrics.values) available += (available.empty() ? "" : ", ") + name;
            throw std::invalid_argument("rules: rule '" + rule.text + "' names metric '" + rule.metric +
                                        "', which is not in the input (" +
                                        (available.empty() ? "the input has no metrics" : "available: " + available) +
                                        ")");
        }

        std::string broken;
        std::string entries;
        std::vector<std::string> log_lines;
        for (const Rule& rule : rules) {
            const double value = metrics.values.at(rule.metric);
            const bool passed = holds(rule, value);
            const std::string shown = rule.metric + " = " + short_number(value);
            if (!passed) broken += std::string(broken.empty() ? "" : "; ") + "rule '" + rule.text + "' broken (" + shown + ")";
            log_lines.push_back("rule '" + rule.text + "' " + (passed ? "passed" : "broken") + " (" + shown + ")");
            if (!entries.empty()) entries += ", ";
            entries += "{\"rule\": " + json_string(rule.text) + ", \"metric\": " + json_string(rule.metric) +
                       ", \"op\": " + json_string(rule.op_text) + ", \"threshold\": " + json_number(rule.threshold) +
                       ", \"value\": " + json_number(value) + ", \"passed\": " + (passed ? "true" : "false") + "}";
        }
        if (!broken.empty()) throw trellis::Error(TRELLIS_ERR_FAILED, "gate failed: " + broken);

        for (const auto& line : log_lines) ctx.log().info(line);
        ctx.output("report", trellis::Report{"{\"passed\": true, \"rules\": [" + entries + "]}"});
    }
};

const trellis::PluginInfo info{
    .name = "govern-gate",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "quality gate: fails a pipeline when metrics break rules",
};

} // namespace

TRELLIS_PLUGIN(info, Gate)

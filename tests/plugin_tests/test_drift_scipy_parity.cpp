// monitor.drift side by side with scipy (Debian's python3-scipy, run as /usr/bin/python3
// tests/reference/drift_reference.py) on the same samples: KS and chi-squared statistics and
// p-values, the normed Wasserstein distance and the Jensen–Shannon distance agree to 1e-9
// (absolute for values up to 1, relative above). The cases reach every branch of ks_2samp's
// p-value: exact for equal and unequal sizes, and each method of the asymptotic distribution.
#include "stage_run.hpp"
#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using trellis::Table;
using trellis::test::StageRun;
using trellis::test::TempDir;

namespace {

const std::string python = "/usr/bin/python3";
const std::string reference_script = std::string(TEST_DATA_DIR) + "/../reference/drift_reference.py";

std::string reference_unavailable() {
    static const std::string why = [] {
        const std::string command = python + " -c 'import scipy, numpy' >/dev/null 2>&1";
        if (std::system(command.c_str()) != 0)
            return "skipped: " + python + " cannot import scipy and numpy (install python3-scipy, see scripts/install-deps)";
        return std::string();
    }();
    return why;
}

std::shared_ptr<trellis::core::PluginLibrary> drift_plugin() {
    static const auto plugin =
        trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / "monitor_drift.so");
    return plugin;
}

using Sample = std::variant<std::vector<double>, std::vector<std::string>>;

// One comparison: a method and two samples of one column.
struct Case {
    std::string label;
    std::string method;
    Sample reference, current;
};

std::vector<double> normal(size_t n, double shift, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> dist(shift, 1.0);
    std::vector<double> out(n);
    for (auto& v : out) v = dist(rng);
    return out;
}

std::vector<double> integers(size_t n, int64_t high, uint64_t seed, int64_t offset = 0) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> dist(0, high);
    std::vector<double> out(n);
    for (auto& v : out) v = static_cast<double>(dist(rng) + offset);
    return out;
}

// Categories "c0".."c<k-1>", drawn with weights 1, 1+tilt, 1+2 tilt, ...
std::vector<std::string> categories(size_t n, int k, double tilt, uint64_t seed) {
    std::vector<double> weights;
    for (int i = 0; i < k; ++i) weights.push_back(1.0 + tilt * i);
    std::mt19937_64 rng(seed);
    std::discrete_distribution<int> dist(weights.begin(), weights.end());
    std::vector<std::string> out(n);
    for (auto& v : out) v = "c" + std::to_string(dist(rng));
    return out;
}

std::vector<Case> cases() {
    std::vector<Case> out;
    const auto ks = [&](std::string label, std::vector<double> a, std::vector<double> b) {
        out.push_back({std::move(label), "ks", std::move(a), std::move(b)});
    };
    ks("exact, equal sizes, same distribution", normal(50, 0, 1), normal(50, 0, 2));
    ks("exact, equal sizes, shifted", normal(50, 0, 3), normal(50, 0.8, 4));
    ks("exact, unequal sizes", normal(200, 0, 5), normal(150, 0.3, 6));
    ks("exact, nearly equal sizes", normal(1000, 0, 7), normal(997, 0.1, 8));
    ks("exact, 10000 a side", normal(10000, 0, 9), normal(10000, 0.03, 10));
    ks("exact, 10000 and 7000", normal(10000, 0, 11), normal(7000, 0.05, 12));
    ks("exact, tiny samples", normal(3, 0, 13), normal(4, 0.5, 14));
    ks("exact, ties", integers(3000, 9, 15), integers(2500, 9, 16));
    ks("exact, far apart", normal(300, 0, 17), normal(300, 3, 18));
    ks("asymptotic, Pelz-Good", normal(20000, 0, 19), normal(15000, 0, 20));
    ks("asymptotic, Smirnov sum", normal(20000, 0, 21), normal(15000, 0.06, 22));
    ks("asymptotic, ties", integers(30000, 20, 23), integers(25000, 20, 24));
    ks("asymptotic, far apart", normal(12000, 0, 25), normal(11000, 1, 26));
    {
        // Evenly spaced quantiles sit close to a large uniform sample: a small statistic at a
        // small effective n, the Durbin matrix branch.
        std::vector<double> quantiles, uniform(20000);
        for (int i = 0; i < 100; ++i) quantiles.push_back((i + 0.5) / 100);
        std::mt19937_64 rng(28);
        std::uniform_real_distribution<double> dist(0, 1);
        for (auto& v : uniform) v = dist(rng);
        ks("asymptotic, small effective n, nD < 1 (Ruben-Gambino)", quantiles, uniform);
        for (auto& q : quantiles) q = q * 0.9 + 0.07;
        ks("asymptotic, small effective n (Durbin)", quantiles, uniform);
    }
    ks("asymptotic, small effective n (Pomeranz)", normal(100, 0, 29), normal(20000, 0.25, 30));
    ks("asymptotic, small effective n (Smirnov)", normal(60, 0, 31), normal(12000, 0.7, 32));
    {
        // 42 changed values in 10001: sqrt(n) D is about 0.3, where the Durbin matrix still
        // serves large n and the CDF is about 1e-5, so a wrong one would show.
        auto a = normal(10001, 0, 33);
        auto b = a;
        for (size_t i = 0; i < 42; ++i) b[i] += 5;
        ks("asymptotic, large n, small statistic (Durbin)", a, b);
    }
    const auto chi = [&](std::string label, std::vector<std::string> a, std::vector<std::string> b) {
        out.push_back({std::move(label), "chisquare", std::move(a), std::move(b)});
    };
    chi("five categories, same mix", categories(500, 5, 0.5, 41), categories(400, 5, 0.5, 42));
    chi("five categories, new mix", categories(500, 5, 0.5, 43), categories(400, 5, 0.0, 44));
    chi("two hundred categories", categories(5000, 200, 0.01, 45), categories(5000, 200, 0.012, 46));
    chi("two categories", categories(800, 2, 0.2, 47), categories(700, 2, 0.4, 48));
    out.push_back({"wasserstein, shifted normals", "wasserstein", normal(2000, 0, 51), normal(1500, 0.2, 52)});
    out.push_back({"wasserstein, integers with ties", "wasserstein", integers(3000, 30, 53), integers(2000, 30, 54, 2)});
    out.push_back({"wasserstein, constant reference", "wasserstein", std::vector<double>(100, 1.5), normal(100, 1.5, 55)});
    out.push_back({"jensenshannon, categories", "jensenshannon", categories(3000, 12, 0.1, 61), categories(2000, 12, 0.3, 62)});
    return out;
}

Table one_column(const Sample& sample) {
    Table table;
    if (const auto* numbers = std::get_if<std::vector<double>>(&sample)) {
        Column column("x", ColumnType::Float64);
        for (double v : *numbers) column.append_float(v);
        table.add_column(std::move(column));
    } else {
        Column column("x", ColumnType::String);
        for (const auto& v : std::get<std::vector<std::string>>(sample)) column.append_string(v);
        table.add_column(std::move(column));
    }
    return table;
}

nlohmann::json sample_json(const Sample& sample) {
    if (const auto* numbers = std::get_if<std::vector<double>>(&sample)) return *numbers;
    return std::get<std::vector<std::string>>(sample);
}

// What scipy says about every case, in order.
nlohmann::json scipy_answers(const TempDir& dir, const std::vector<Case>& all) {
    nlohmann::json input = nlohmann::json::array();
    for (const auto& c : all)
        input.push_back({{"method", c.method}, {"reference", sample_json(c.reference)}, {"current", sample_json(c.current)}});
    const auto in = dir / "cases.json", out = dir / "scipy.json", err = dir / "scipy.err";
    std::ofstream(in) << input.dump();
    const std::string command = python + " " + reference_script + " " + in.string() + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(command.c_str());
    std::stringstream err_text;
    err_text << std::ifstream(err).rdbuf();
    INFO(command << "\n" << err_text.str());
    REQUIRE(status == 0);
    return nlohmann::json::parse(std::ifstream(out));
}

// Agreement to 1e-9: absolute for numbers up to 1 (every p-value), relative above.
bool agrees(double ours, double theirs) { return std::abs(ours - theirs) <= 1e-9 * std::max(1.0, std::abs(theirs)); }

} // namespace

TEST_CASE("scipy parity: KS, chi-squared, Wasserstein and Jensen-Shannon agree to 1e-9") {
    if (const auto why = reference_unavailable(); !why.empty()) {
        WARN(why);
        return;
    }
    TempDir dir;
    const auto all = cases();
    const nlohmann::json answers = scipy_answers(dir, all);
    REQUIRE(answers.size() == all.size());
    for (size_t i = 0; i < all.size(); ++i) {
        const Case& c = all[i];
        StageRun run(drift_plugin(), "monitor.drift", {{"method", c.method}});
        run.set_input("reference", trellis::ArtifactType::Table, trellis::serialize(one_column(c.reference)));
        run.set_input("current", trellis::ArtifactType::Table, trellis::serialize(one_column(c.current)));
        const auto outcome = run.invoke();
        INFO(c.label << " (" << c.method << "): " << outcome.message);
        REQUIRE(outcome.status == TRELLIS_OK);
        const auto report = nlohmann::json::parse(trellis::deserialize_report(run.output("report")).json);
        const auto& column = report["columns"][0];
        const auto& scipy = answers[i];
        INFO("trellis " << column.dump() << "\nscipy   " << scipy.dump());
        CHECK(column["method"] == c.method);
        CHECK(agrees(column["statistic"].get<double>(), scipy["statistic"].get<double>()));
        if (scipy.contains("p_value")) CHECK(agrees(column["p_value"].get<double>(), scipy["p_value"].get<double>()));
    }
}

// Artifacts that flow between stages, and the trellis serialisation: the bytes that cross the
// plugin boundary (plugin_abi.h) and that the stores content-hash, keep and memory-map.
//
// FORMAT, version 1. Plugins built against any SDK of this version must agree on every byte.
//
//   Header, 16 bytes, every artifact:
//     magic     8 bytes, one per type: "TRLSTAB\0" table, "TRLSMOD\0" model, "TRLSMET\0" metrics,
//               "TRLSREP\0" report, "TRLSFIL\0" file, "TRLSDIR\0" directory
//     version   u32 = 1
//     reserved  u32 = 0
//   Primitives:
//     u32, u64  little-endian unsigned integers; int64 and float64 values are stored by their bits
//     str       u64 byte length n, n bytes (UTF-8 where text), zero bytes up to a multiple of 8
//     pad       zero bytes up to the next multiple of 8, counted from the start of the blob
//   Since the header and every field are multiples of 8 bytes, every buffer starts 8-byte aligned
//   from the start of the blob: a reader can point an ArrowArray straight into a mapped file.
//
//   Table:     u64 row count R, u64 column count C (R = 0 when C = 0), then C columns of
//                str name (unique in the table), u64 type (ColumnType: 1 int, 2 float, 3 bool,
//                4 string), u64 null count N (<= R),
//                validity  only when N > 0: Arrow bitmap, ceil(R/8) bytes, LSB first, 1 = valid, pad
//                offsets   string columns only: R+1 int64, the first 0, never decreasing
//                data      int: R int64; float: R float64; bool: ceil(R/8) bytes of bits, pad;
//                          string: offsets[R] bytes, pad
//   Model:     str flavor, u64 field count F, F fields of (str name, u64 type), str model bytes
//   Metrics:   u64 count M, M entries of (str name, u64 float64 bits), names strictly ascending
//              by byte value
//   Report:    str JSON text
//   File:      str path
//   Directory: str path
//
// DETERMINISM. The same value always gives the same bytes, so a hash of a blob is a content hash:
// metrics are sorted, padding and reserved fields are zero, unused bits of the last bitmap byte are
// zero, and a null slot holds a zero value (0, 0.0, false, or an empty string). Readers reject
// anything else (non-zero padding or reserved bits, a value under a null, unsorted metrics,
// trailing bytes), so bytes and values correspond one to one.
//
// SAFETY. Deserialisers check every length and count against the bytes actually present before
// using it, and allocate only in proportion to the input, so hostile input gets a FormatError,
// never undefined behaviour or a huge allocation.
#pragma once

#include <trellis/plugin_abi.h>
#include <trellis/table.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

static_assert(std::endian::native == std::endian::little,
              "the trellis serialisation stores column buffers as they lie in memory, which needs a "
              "little-endian target");

namespace trellis {

/// What an artifact is; the values are trellis_artifact_type's, so they cross the ABI unchanged.
enum class ArtifactType : uint32_t { Table = 1, Model = 2, Metrics = 3, Report = 4, File = 5, Directory = 6 };

static_assert(static_cast<uint32_t>(ArtifactType::Table) == TRELLIS_ARTIFACT_TABLE &&
              static_cast<uint32_t>(ArtifactType::Model) == TRELLIS_ARTIFACT_MODEL &&
              static_cast<uint32_t>(ArtifactType::Metrics) == TRELLIS_ARTIFACT_METRICS &&
              static_cast<uint32_t>(ArtifactType::Report) == TRELLIS_ARTIFACT_REPORT &&
              static_cast<uint32_t>(ArtifactType::File) == TRELLIS_ARTIFACT_FILE &&
              static_cast<uint32_t>(ArtifactType::Directory) == TRELLIS_ARTIFACT_DIRECTORY);

/// The name pipelines and messages use: "table", "model", "metrics", "report", "file", "directory".
inline std::string_view to_string(ArtifactType type) {
    switch (type) {
    case ArtifactType::Table: return "table";
    case ArtifactType::Model: return "model";
    case ArtifactType::Metrics: return "metrics";
    case ArtifactType::Report: return "report";
    case ArtifactType::File: return "file";
    case ArtifactType::Directory: return "directory";
    }
    return "unknown";
}

/// Parses a name written by to_string(ArtifactType); nullopt for anything else.
inline std::optional<ArtifactType> artifact_type_from_string(std::string_view name) {
    for (uint32_t code = 1; code <= 6; ++code)
        if (to_string(static_cast<ArtifactType>(code)) == name) return static_cast<ArtifactType>(code);
    return std::nullopt;
}

/// One input column a model expects, so the host can check a table before predicting.
struct Field {
    std::string name; ///< column name
    ColumnType type;  ///< column type
    /// Same name and type.
    bool operator==(const Field&) const = default;
};

/// A trained model. The bytes are opaque to trellis: only the flavor named here can load them.
struct Model {
    std::string flavor;           ///< name of the flavor that loads the bytes, e.g. "linear"
    std::vector<Field> signature; ///< input columns, in the order the model expects them
    std::vector<uint8_t> bytes;   ///< the flavor's own encoding of the model
    /// Same flavor, signature and bytes.
    bool operator==(const Model&) const = default;
};

/// Named numbers, e.g. evaluation results; a map so that names are unique and ordered.
struct Metrics {
    std::map<std::string, double> values; ///< metric name -> value
    /// Same names and values, compared bit for bit so that NaN equals NaN after a round trip.
    bool operator==(const Metrics& other) const {
        if (values.size() != other.values.size()) return false;
        for (auto a = values.begin(), b = other.values.begin(); a != values.end(); ++a, ++b)
            if (a->first != b->first || std::bit_cast<uint64_t>(a->second) != std::bit_cast<uint64_t>(b->second))
                return false;
        return true;
    }
};

/// A JSON document for people and dashboards; trellis stores the text as given.
struct Report {
    std::string json; ///< JSON text
    /// Same text.
    bool operator==(const Report&) const = default;
};

/// A file that stays where it is: the artifact is the path, not the content.
struct FileRef {
    std::string path; ///< path of the file
    /// Same path.
    bool operator==(const FileRef&) const = default;
};

/// A directory that stays where it is: the artifact is the path, not the content.
struct DirectoryRef {
    std::string path; ///< path of the directory
    /// Same path.
    bool operator==(const DirectoryRef&) const = default;
};

/// Thrown by every deserialiser on bytes that are not a valid artifact of the asked-for type.
class FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

inline constexpr uint32_t format_version = 1;
inline constexpr size_t header_size = 16;

inline std::string_view magic(ArtifactType type) {
    switch (type) {
    case ArtifactType::Table: return {"TRLSTAB\0", 8};
    case ArtifactType::Model: return {"TRLSMOD\0", 8};
    case ArtifactType::Metrics: return {"TRLSMET\0", 8};
    case ArtifactType::Report: return {"TRLSREP\0", 8};
    case ArtifactType::File: return {"TRLSFIL\0", 8};
    case ArtifactType::Directory: return {"TRLSDIR\0", 8};
    }
    return {};
}

inline size_t padded(size_t n) { return (n + 7) / 8 * 8; }

// Appends the format's primitives to a growing blob.
class Writer {
public:
    Writer(ArtifactType type, size_t size_hint) {
        out_.reserve(size_hint);
        raw(magic(type).data(), 8);
        const uint32_t head[2] = {format_version, 0};
        raw(head, sizeof head);
    }
    void u64(uint64_t value) { raw(&value, 8); }
    void raw(const void* data, size_t size) {
        if (size == 0) return;
        const auto* bytes = static_cast<const uint8_t*>(data);
        out_.insert(out_.end(), bytes, bytes + size);
    }
    void pad() { out_.resize(padded(out_.size()), 0); }
    void str(std::string_view text) {
        u64(text.size());
        raw(text.data(), text.size());
        pad();
    }
    std::vector<uint8_t> finish() { return std::move(out_); }

private:
    std::vector<uint8_t> out_;
};

// What is being read, for error messages: text in up to three parts, joined only when an error
// is reported, so reading a table with many columns builds no message strings.
struct Where {
    std::string_view prefix, name, suffix;
    Where(const char* text) : prefix(text) {}                                 // NOLINT: implicit by design
    Where(const std::string& text) : prefix(text) {}                          // NOLINT
    Where(std::string_view p, std::string_view n, std::string_view s) : prefix(p), name(n), suffix(s) {}
    std::string text() const {
        std::string out(prefix);
        out += name;
        out += suffix;
        return out;
    }
    // The same with `more` appended, e.g. " length".
    Where plus(std::string_view more, std::string& storage) const {
        storage = text();
        storage += more;
        return Where(storage);
    }
};

// Reads the format's primitives, checking each against the bytes left.
class Reader {
public:
    Reader(std::span<const uint8_t> in, ArtifactType type) : in_(in), type_(type) {
        if (in.empty()) fail("empty input");
        if (in.size() < header_size) fail("too short for a header (" + std::to_string(in.size()) + " bytes)");
        const std::string_view got(reinterpret_cast<const char*>(in.data()), 8);
        if (got != magic(type)) {
            for (uint32_t code = 1; code <= 6; ++code)
                if (got == magic(static_cast<ArtifactType>(code)))
                    fail("this is a trellis " + std::string(to_string(static_cast<ArtifactType>(code))) + " artifact");
            fail("wrong magic: not a trellis artifact");
        }
        pos_ = 8;
        const uint64_t head = u64("header");
        if (const auto version = static_cast<uint32_t>(head); version != format_version)
            fail("unsupported format version " + std::to_string(version) + " (this reader knows " +
                 std::to_string(format_version) + ")");
        if ((head >> 32) != 0) fail("non-zero reserved header field");
    }

    [[noreturn]] void fail(const std::string& why) const {
        throw FormatError("malformed trellis " + std::string(to_string(type_)) + " at byte " + std::to_string(pos_) +
                          ": " + why);
    }
    size_t remaining() const { return in_.size() - pos_; }

    std::span<const uint8_t> take(uint64_t size, const Where& what) {
        if (size > remaining())
            fail("truncated " + what.text() + " (needs " + std::to_string(size) + " bytes, " + std::to_string(remaining()) +
                 " left)");
        const auto bytes = in_.subspan(pos_, static_cast<size_t>(size));
        pos_ += static_cast<size_t>(size);
        return bytes;
    }
    // `count` 8-byte words, checked before multiplying so a huge count cannot overflow.
    std::span<const uint8_t> take_words(uint64_t count, const Where& what) {
        if (count > remaining() / 8)
            fail("truncated " + what.text() + " (needs " + std::to_string(count) + " 8-byte values, " +
                 std::to_string(remaining()) + " bytes left)");
        return take(count * 8, what);
    }
    uint64_t u64(const Where& what) { return load_u64(take(8, what).data()); }
    void pad(const Where& what) {
        const size_t size = padded(pos_) - pos_;
        if (size > remaining()) {
            const std::string padding = "padding after " + what.text();
            take(size, padding);
        }
        for (uint8_t byte : take(size, what))
            if (byte != 0) fail("non-zero padding after " + what.text());
    }
    std::string_view str(const Where& what) {
        if (remaining() < 8) {
            std::string storage;
            u64(what.plus(" length", storage));
        }
        const uint64_t size = u64(what);
        const auto bytes = take(size, what);
        pad(what);
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }
    void finish() const {
        if (remaining() != 0) fail(std::to_string(remaining()) + " trailing bytes");
    }

    static uint64_t load_u64(const uint8_t* bytes) {
        uint64_t value;
        std::memcpy(&value, bytes, 8);
        return value;
    }

private:
    std::span<const uint8_t> in_;
    ArtifactType type_;
    size_t pos_ = 0;
};

inline bool bit_at(std::span<const uint8_t> bits, uint64_t i) { return (bits[i / 8] >> (i % 8)) & 1u; }

// Reads a bitmap of `rows` bits plus its padding, rejecting set bits past the end.
inline std::span<const uint8_t> read_bitmap(Reader& in, uint64_t rows, const Where& what) {
    const auto bits = in.take(rows / 8 + (rows % 8 != 0), what);
    if (rows % 8 != 0 && (bits.back() >> (rows % 8)) != 0) in.fail("set bits past the end of " + what.text());
    in.pad(what);
    return bits;
}

inline ColumnType read_column_type(Reader& in, const Where& what) {
    if (in.remaining() < 8) {
        std::string storage;
        in.u64(what.plus(" type", storage));
    }
    const uint64_t code = in.u64(what);
    if (code < 1 || code > 4) in.fail(what.text() + " has unknown type " + std::to_string(code));
    return static_cast<ColumnType>(code);
}

inline Column read_column(Reader& in, uint64_t rows, const Table& table) {
    // A view into the blob, which outlives the reading: the name is copied once, into the column.
    const std::string_view name = in.str("column name");
    // Messages name the column: "column 'x' null count", built only if one is reported.
    const auto at = [&](std::string_view suffix) { return Where("column '", name, suffix); };
    const auto what_text = [&] { return at("'").text(); };
    if (table.find(name)) in.fail("duplicate " + what_text());
    const ColumnType type = read_column_type(in, at("'"));
    const uint64_t nulls = in.u64(at("' null count"));
    if (nulls > rows) in.fail(what_text() + " has more nulls than rows");

    std::span<const uint8_t> validity;
    if (nulls > 0) {
        validity = read_bitmap(in, rows, at("' validity"));
        uint64_t valid = 0;
        for (uint8_t byte : validity) valid += static_cast<uint64_t>(std::popcount(byte));
        if (rows - valid != nulls) in.fail(what_text() + " null count does not match its validity bitmap");
    }
    const auto is_null = [&](uint64_t i) { return !validity.empty() && !bit_at(validity, i); };
    const auto null_not_zero = [&](uint64_t i) { in.fail(what_text() + " holds a value under null row " + std::to_string(i)); };

    Column column(std::string(name), type);
    switch (type) {
    case ColumnType::Int64:
    case ColumnType::Float64: {
        const auto data = in.take_words(rows, at("' data"));
        column.reserve(static_cast<size_t>(rows));
        for (uint64_t i = 0; i < rows; ++i) {
            const uint64_t bits = Reader::load_u64(data.data() + i * 8);
            if (is_null(i)) {
                if (bits != 0) null_not_zero(i);
                column.append_null();
            } else if (type == ColumnType::Int64) {
                column.append_int(std::bit_cast<int64_t>(bits));
            } else {
                column.append_float(std::bit_cast<double>(bits));
            }
        }
        break;
    }
    case ColumnType::Bool: {
        const auto data = read_bitmap(in, rows, at("' data"));
        column.reserve(static_cast<size_t>(rows));
        for (uint64_t i = 0; i < rows; ++i) {
            if (is_null(i)) {
                if (bit_at(data, i)) null_not_zero(i);
                column.append_null();
            } else {
                column.append_bool(bit_at(data, i));
            }
        }
        break;
    }
    case ColumnType::String: {
        const auto offsets = in.take_words(rows + 1, at("' offsets"));
        const auto offset = [&](uint64_t i) { return std::bit_cast<int64_t>(Reader::load_u64(offsets.data() + i * 8)); };
        if (offset(0) != 0) in.fail(what_text() + " offsets do not start at 0");
        for (uint64_t i = 0; i < rows; ++i)
            if (offset(i + 1) < offset(i)) in.fail(what_text() + " offsets decrease at row " + std::to_string(i));
        const auto chars = in.take(static_cast<uint64_t>(offset(rows)), at("' string data"));
        in.pad(at("' string data"));
        column.reserve(static_cast<size_t>(rows));
        for (uint64_t i = 0; i < rows; ++i) {
            const auto begin = static_cast<size_t>(offset(i)), end = static_cast<size_t>(offset(i + 1));
            if (is_null(i)) {
                if (end != begin) null_not_zero(i);
                column.append_null();
            } else {
                column.append_string({reinterpret_cast<const char*>(chars.data()) + begin, end - begin});
            }
        }
        break;
    }
    }
    return column;
}

} // namespace detail

/// Serialises a table: a dump of its Arrow buffers (see the format above).
inline std::vector<uint8_t> serialize(const Table& table) {
    const size_t rows = table.num_rows();
    size_t size = detail::header_size + 16;
    for (const Column& column : table.columns())
        size += 24 + detail::padded(column.name().size()) +
                (column.null_count() ? detail::padded(Column::bitmap_bytes(rows)) : 0) +
                (column.offsets() ? (rows + 1) * 8 : 0) + detail::padded(column.data_size());
    detail::Writer out(ArtifactType::Table, size);
    out.u64(rows);
    out.u64(table.num_columns());
    for (const Column& column : table.columns()) {
        out.str(column.name());
        out.u64(static_cast<uint64_t>(column.type()));
        out.u64(column.null_count());
        if (column.null_count() > 0) {
            out.raw(column.validity_bits(), Column::bitmap_bytes(rows));
            out.pad();
        }
        if (column.offsets()) out.raw(column.offsets(), (rows + 1) * 8);
        out.raw(column.data_buffer(), column.data_size());
        out.pad();
    }
    return out.finish();
}

/// Serialises a model.
inline std::vector<uint8_t> serialize(const Model& model) {
    detail::Writer out(ArtifactType::Model, 64 + model.flavor.size() + model.bytes.size());
    out.str(model.flavor);
    out.u64(model.signature.size());
    for (const Field& field : model.signature) {
        out.str(field.name);
        out.u64(static_cast<uint64_t>(field.type));
    }
    out.str({reinterpret_cast<const char*>(model.bytes.data()), model.bytes.size()});
    return out.finish();
}

/// Serialises metrics; std::map already holds them in the byte order the format requires.
inline std::vector<uint8_t> serialize(const Metrics& metrics) {
    detail::Writer out(ArtifactType::Metrics, 32 + 32 * metrics.values.size());
    out.u64(metrics.values.size());
    for (const auto& [name, value] : metrics.values) {
        out.str(name);
        out.u64(std::bit_cast<uint64_t>(value));
    }
    return out.finish();
}

/// Serialises a report.
inline std::vector<uint8_t> serialize(const Report& report) {
    detail::Writer out(ArtifactType::Report, 32 + report.json.size());
    out.str(report.json);
    return out.finish();
}

/// Serialises a file reference.
inline std::vector<uint8_t> serialize(const FileRef& file) {
    detail::Writer out(ArtifactType::File, 32 + file.path.size());
    out.str(file.path);
    return out.finish();
}

/// Serialises a directory reference.
inline std::vector<uint8_t> serialize(const DirectoryRef& directory) {
    detail::Writer out(ArtifactType::Directory, 32 + directory.path.size());
    out.str(directory.path);
    return out.finish();
}

/// Rows and columns of a table blob, read from its first words without decoding the columns (for
/// describing a large table cheaply); FormatError if it does not start like a table.
inline std::pair<uint64_t, uint64_t> table_shape(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes.first(std::min<size_t>(bytes.size(), detail::header_size + 16)), ArtifactType::Table);
    const uint64_t rows = in.u64("row count");
    const uint64_t columns = in.u64("column count");
    return {rows, columns};
}

/// Reads a table blob; FormatError if it is not exactly one valid table.
inline Table deserialize_table(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes, ArtifactType::Table);
    const uint64_t rows = in.u64("row count");
    const uint64_t columns = in.u64("column count");
    if (columns == 0 && rows != 0) in.fail("a table without columns cannot have rows");
    if (rows > static_cast<uint64_t>(INT64_MAX)) in.fail("row count " + std::to_string(rows) + " is too large");
    Table table;
    // Each column takes 32+ bytes, so a count the blob cannot hold fails below, not here.
    table.reserve(static_cast<size_t>(std::min<uint64_t>(columns, in.remaining() / 32)));
    for (uint64_t i = 0; i < columns; ++i) table.add_column(detail::read_column(in, rows, table));
    in.finish();
    return table;
}

/// Reads a model blob; FormatError if it is not exactly one valid model.
inline Model deserialize_model(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes, ArtifactType::Model);
    Model model;
    model.flavor = in.str("flavor");
    const uint64_t fields = in.u64("field count");
    for (uint64_t i = 0; i < fields; ++i) { // each field takes 16+ bytes, so truncation ends the loop
        std::string name(in.str("field name"));
        const ColumnType type = detail::read_column_type(in, "field '" + name + "'");
        model.signature.push_back({std::move(name), type});
    }
    const std::string_view data = in.str("model bytes");
    model.bytes.assign(data.begin(), data.end());
    in.finish();
    return model;
}

/// Reads a metrics blob; FormatError if it is not exactly one valid metrics artifact.
inline Metrics deserialize_metrics(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes, ArtifactType::Metrics);
    Metrics metrics;
    const uint64_t count = in.u64("metric count");
    for (uint64_t i = 0; i < count; ++i) {
        std::string name(in.str("metric name"));
        if (!metrics.values.empty() && !(metrics.values.rbegin()->first < name))
            in.fail("metric '" + name + "' is out of order or repeated");
        const double value = std::bit_cast<double>(in.u64("metric '" + name + "' value"));
        metrics.values.emplace_hint(metrics.values.end(), std::move(name), value);
    }
    in.finish();
    return metrics;
}

/// Reads a report blob; FormatError if it is not exactly one valid report.
inline Report deserialize_report(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes, ArtifactType::Report);
    Report report{std::string(in.str("JSON text"))};
    in.finish();
    return report;
}

/// Reads a file reference blob; FormatError if it is not exactly one valid file reference.
inline FileRef deserialize_file(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes, ArtifactType::File);
    FileRef file{std::string(in.str("path"))};
    in.finish();
    return file;
}

/// Reads a directory reference blob; FormatError if it is not exactly one valid directory reference.
inline DirectoryRef deserialize_directory(std::span<const uint8_t> bytes) {
    detail::Reader in(bytes, ArtifactType::Directory);
    DirectoryRef directory{std::string(in.str("path"))};
    in.finish();
    return directory;
}

/// Maps an artifact struct to its ArtifactType and (de)serialiser, so generic code (Context::input,
/// Context::output) can write `ArtifactTraits<T>::deserialize(bytes)` for any artifact type T.
template <class T> struct ArtifactTraits;

/// Table artifacts.
template <> struct ArtifactTraits<Table> {
    static constexpr ArtifactType type = ArtifactType::Table; ///< the type tag that crosses the ABI
    /// See serialize(const Table&).
    static std::vector<uint8_t> serialize(const Table& value) { return trellis::serialize(value); }
    /// See deserialize_table().
    static Table deserialize(std::span<const uint8_t> bytes) { return deserialize_table(bytes); }
};
/// Model artifacts.
template <> struct ArtifactTraits<Model> {
    static constexpr ArtifactType type = ArtifactType::Model; ///< the type tag that crosses the ABI
    /// See serialize(const Model&).
    static std::vector<uint8_t> serialize(const Model& value) { return trellis::serialize(value); }
    /// See deserialize_model().
    static Model deserialize(std::span<const uint8_t> bytes) { return deserialize_model(bytes); }
};
/// Metrics artifacts.
template <> struct ArtifactTraits<Metrics> {
    static constexpr ArtifactType type = ArtifactType::Metrics; ///< the type tag that crosses the ABI
    /// See serialize(const Metrics&).
    static std::vector<uint8_t> serialize(const Metrics& value) { return trellis::serialize(value); }
    /// See deserialize_metrics().
    static Metrics deserialize(std::span<const uint8_t> bytes) { return deserialize_metrics(bytes); }
};
/// Report artifacts.
template <> struct ArtifactTraits<Report> {
    static constexpr ArtifactType type = ArtifactType::Report; ///< the type tag that crosses the ABI
    /// See serialize(const Report&).
    static std::vector<uint8_t> serialize(const Report& value) { return trellis::serialize(value); }
    /// See deserialize_report().
    static Report deserialize(std::span<const uint8_t> bytes) { return deserialize_report(bytes); }
};
/// File artifacts.
template <> struct ArtifactTraits<FileRef> {
    static constexpr ArtifactType type = ArtifactType::File; ///< the type tag that crosses the ABI
    /// See serialize(const FileRef&).
    static std::vector<uint8_t> serialize(const FileRef& value) { return trellis::serialize(value); }
    /// See deserialize_file().
    static FileRef deserialize(std::span<const uint8_t> bytes) { return deserialize_file(bytes); }
};
/// Directory artifacts.
template <> struct ArtifactTraits<DirectoryRef> {
    static constexpr ArtifactType type = ArtifactType::Directory; ///< the type tag that crosses the ABI
    /// See serialize(const DirectoryRef&).
    static std::vector<uint8_t> serialize(const DirectoryRef& value) { return trellis::serialize(value); }
    /// See deserialize_directory().
    static DirectoryRef deserialize(std::span<const uint8_t> bytes) { return deserialize_directory(bytes); }
};

} // namespace trellis

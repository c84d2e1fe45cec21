// trellis::Table, the columnar data artifact. Columns keep their values in the Arrow memory layout
// so that export_arrow() can hand them to Arrow-aware code (pyarrow, polars, DuckDB, Arrow C++)
// without copying, and so that the serialised form (artifacts.hpp) is a plain dump of the buffers.
#pragma once

#include <trellis/arrow_c_data.h>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis {

/// Value type of a column. The numeric values are part of the serialised format: never renumber.
enum class ColumnType : uint8_t {
    Int64 = 1,   ///< signed 64-bit integer, Arrow "l"
    Float64 = 2, ///< IEEE 754 double, Arrow "g"
    Bool = 3,    ///< bit-packed boolean, Arrow "b"
    String = 4   ///< UTF-8 with 64-bit offsets, Arrow "U" (large utf8)
};

/// The name pipelines and schemas use for a column type: "int", "float", "bool" or "string".
inline std::string_view to_string(ColumnType type) {
    switch (type) {
    case ColumnType::Int64: return "int";
    case ColumnType::Float64: return "float";
    case ColumnType::Bool: return "bool";
    case ColumnType::String: return "string";
    }
    return "unknown";
}

/// Parses a name written by to_string(ColumnType); nullopt for anything else.
inline std::optional<ColumnType> column_type_from_string(std::string_view name) {
    for (ColumnType type : {ColumnType::Int64, ColumnType::Float64, ColumnType::Bool, ColumnType::String})
        if (to_string(type) == name) return type;
    return std::nullopt;
}

/**
 * A named column of one type whose values may be missing (null). Values are only appended, which
 * keeps the Arrow buffers valid for zero-copy readers at every moment.
 *
 * A null slot stores a zero value (0, 0.0, false, or an empty string) so that equal columns have
 * identical buffers and serialise to identical bytes; the *_at accessors return that zero, so check
 * is_null() where a missing value matters.
 */
class Column {
public:
    /// An empty column; the name is what Table::column(name) and schemas look it up by.
    Column(std::string name, ColumnType type) : name_(std::move(name)), type_(type) {
        if (type_ == ColumnType::String) offsets_.push_back(0);
    }

    /// The column's name.
    const std::string& name() const noexcept { return name_; }
    /// The column's value type.
    ColumnType type() const noexcept { return type_; }
    /// Number of values, nulls included.
    size_t size() const noexcept { return size_; }
    /// Number of nulls.
    size_t null_count() const noexcept { return null_count_; }

    /// Reserves room for `n` values, to avoid reallocation when the row count is known up front.
    void reserve(size_t n) {
        switch (type_) {
        case ColumnType::Int64: ints_.reserve(n); break;
        case ColumnType::Float64: floats_.reserve(n); break;
        case ColumnType::Bool: bits_.reserve(bitmap_bytes(n)); break;
        case ColumnType::String: offsets_.reserve(n + 1); break;
        }
    }

    /// Appends a value to an Int64 column; std::logic_error on another type.
    void append_int(int64_t value) {
        expect(ColumnType::Int64, "append an int to");
        ints_.push_back(value);
        push_validity(true);
    }
    /// Appends a value to a Float64 column; std::logic_error on another type.
    void append_float(double value) {
        expect(ColumnType::Float64, "append a float to");
        floats_.push_back(value);
        push_validity(true);
    }
    /// Appends a value to a Bool column; std::logic_error on another type.
    void append_bool(bool value) {
        expect(ColumnType::Bool, "append a bool to");
        push_bit(bits_, size_, value);
        push_validity(true);
    }
    /// Appends a copy of `value` (UTF-8) to a String column; std::logic_error on another type.
    void append_string(std::string_view value) {
        expect(ColumnType::String, "append a string to");
        chars_.insert(chars_.end(), value.begin(), value.end());
        offsets_.push_back(static_cast<int64_t>(chars_.size()));
        push_validity(true);
    }
    /// Appends a missing value; works for every type.
    void append_null() {
        switch (type_) {
        case ColumnType::Int64: ints_.push_back(0); break;
        case ColumnType::Float64: floats_.push_back(0.0); break;
        case ColumnType::Bool: push_bit(bits_, size_, false); break;
        case ColumnType::String: offsets_.push_back(static_cast<int64_t>(chars_.size())); break;
        }
        push_validity(false);
    }

    /// Whether value `i` is missing; std::out_of_range past the end.
    bool is_null(size_t i) const {
        check_index(i);
        return null_count_ > 0 && !get_bit(validity_.data(), i);
    }
    /// Value `i` of an Int64 column (0 if null).
    int64_t int_at(size_t i) const {
        expect(ColumnType::Int64, "read an int from");
        check_index(i);
        return ints_[i];
    }
    /// Value `i` of a Float64 column (0.0 if null).
    double float_at(size_t i) const {
        expect(ColumnType::Float64, "read a float from");
        check_index(i);
        return floats_[i];
    }
    /// Value `i` of a Bool column (false if null).
    bool bool_at(size_t i) const {
        expect(ColumnType::Bool, "read a bool from");
        check_index(i);
        return get_bit(bits_.data(), i);
    }
    /// Value `i` of a String column (empty if null); valid until the column is next modified.
    std::string_view string_at(size_t i) const {
        expect(ColumnType::String, "read a string from");
        check_index(i);
        return std::string_view(chars_.data() + offsets_[i], static_cast<size_t>(offsets_[i + 1] - offsets_[i]));
    }

    /// Arrow validity bitmap (LSB first, 1 = valid, (size()+7)/8 bytes), or nullptr when no value
    /// is null, which Arrow readers take as "all valid".
    const uint8_t* validity_bits() const noexcept { return null_count_ > 0 ? validity_.data() : nullptr; }
    /// Arrow values buffer: int64s, doubles, packed bits or UTF-8 bytes; may be nullptr when empty.
    const void* data_buffer() const noexcept {
        switch (type_) {
        case ColumnType::Int64: return ints_.data();
        case ColumnType::Float64: return floats_.data();
        case ColumnType::Bool: return bits_.data();
        case ColumnType::String: return chars_.data();
        }
        return nullptr;
    }
    /// Size of data_buffer() in bytes.
    size_t data_size() const noexcept {
        switch (type_) {
        case ColumnType::Int64: return ints_.size() * sizeof(int64_t);
        case ColumnType::Float64: return floats_.size() * sizeof(double);
        case ColumnType::Bool: return bits_.size();
        case ColumnType::String: return chars_.size();
        }
        return 0;
    }
    /// Arrow large-utf8 offsets (size()+1 of them, starting at 0), or nullptr if not a String column.
    const int64_t* offsets() const noexcept { return type_ == ColumnType::String ? offsets_.data() : nullptr; }

    /// Same name, type, nulls and values. Floats compare bit for bit, so NaN equals NaN and a
    /// round trip through bytes always compares equal.
    bool operator==(const Column& other) const {
        if (name_ != other.name_ || type_ != other.type_ || size_ != other.size_ || null_count_ != other.null_count_)
            return false;
        // Null slots hold zeros and unused bits are zero, so equal values mean equal buffers.
        if (validity_ != other.validity_) return false;
        switch (type_) {
        case ColumnType::Int64: return ints_ == other.ints_;
        case ColumnType::Float64:
            for (size_t i = 0; i < size_; ++i)
                if (std::bit_cast<uint64_t>(floats_[i]) != std::bit_cast<uint64_t>(other.floats_[i])) return false;
            return true;
        case ColumnType::Bool: return bits_ == other.bits_;
        case ColumnType::String: return offsets_ == other.offsets_ && chars_ == other.chars_;
        }
        return false;
    }

    /// Bytes of a bitmap holding `bits` bits.
    static constexpr size_t bitmap_bytes(size_t bits) noexcept { return bits / 8 + (bits % 8 != 0); }

private:
    static bool get_bit(const uint8_t* bits, size_t i) noexcept { return (bits[i / 8] >> (i % 8)) & 1u; }
    // Appends bit `i` (== current bit count); new bytes start zero so unused bits stay zero.
    static void push_bit(std::vector<uint8_t>& bits, size_t i, bool value) {
        if (i % 8 == 0) bits.push_back(0);
        if (value) bits.back() = static_cast<uint8_t>(bits.back() | (1u << (i % 8)));
    }

    void push_validity(bool valid) {
        if (!valid && null_count_ == 0) // first null: materialise "all valid so far"
            for (size_t i = 0; i < size_; ++i) push_bit(validity_, i, true);
        if (!valid || null_count_ > 0) push_bit(validity_, size_, valid);
        if (!valid) ++null_count_;
        ++size_;
    }
    void expect(ColumnType wanted, const char* action) const {
        if (type_ != wanted)
            throw std::logic_error("cannot " + std::string(action) + " column '" + name_ + "' of type " +
                                   std::string(to_string(type_)) + " (wanted " + std::string(to_string(wanted)) + ")");
    }
    void check_index(size_t i) const {
        if (i >= size_)
            throw std::out_of_range("row " + std::to_string(i) + " is out of range for column '" + name_ + "' of " +
                                    std::to_string(size_) + " rows");
    }

    std::string name_;
    ColumnType type_;
    size_t size_ = 0;
    size_t null_count_ = 0;
    std::vector<uint8_t> validity_; // empty while null_count_ == 0
    std::vector<int64_t> ints_;
    std::vector<double> floats_;
    std::vector<uint8_t> bits_;
    std::vector<char> chars_;
    std::vector<int64_t> offsets_;
};

/// Columns of equal length with unique names: the data that flows between stages.
class Table {
public:
    /// Number of rows (0 for a table without columns).
    size_t num_rows() const noexcept { return columns_.empty() ? 0 : columns_.front().size(); }
    /// Number of columns.
    size_t num_columns() const noexcept { return columns_.size(); }
    /// All columns, in the order they were added.
    const std::vector<Column>& columns() const noexcept { return columns_; }
    /// Column `i`; std::out_of_range past the end.
    const Column& column(size_t i) const {
        if (i >= columns_.size())
            throw std::out_of_range("no column " + std::to_string(i) + " in a table of " +
                                    std::to_string(columns_.size()) + " columns");
        return columns_[i];
    }
    /// The column named `name`; std::out_of_range "no column 'name'" if there is none.
    const Column& column(std::string_view name) const {
        if (const Column* found = find(name)) return *found;
        throw std::out_of_range("no column '" + std::string(name) + "'");
    }
    /// The column named `name`, or nullptr: for optional columns, without an exception.
    const Column* find(std::string_view name) const noexcept {
        for (const Column& column : columns_)
            if (column.name() == name) return &column;
        return nullptr;
    }
    /// Column names, in order.
    std::vector<std::string> column_names() const {
        std::vector<std::string> names;
        names.reserve(columns_.size());
        for (const Column& column : columns_) names.push_back(column.name());
        return names;
    }
    /// Reserves room for `n` columns, to avoid reallocation when the column count is known up front.
    void reserve(size_t n) { columns_.reserve(n); }
    /// Appends a column. std::invalid_argument if its name is taken or its length differs from
    /// the rows already in the table, since either would make rows ambiguous.
    void add_column(Column column) {
        if (find(column.name())) throw std::invalid_argument("duplicate column '" + column.name() + "'");
        if (!columns_.empty() && column.size() != num_rows())
            throw std::invalid_argument("column '" + column.name() + "' has " + std::to_string(column.size()) +
                                        " rows but the table has " + std::to_string(num_rows()));
        columns_.push_back(std::move(column));
    }
    /// Same column names and types in the same order with the same values and nulls.
    bool operator==(const Table& other) const { return columns_ == other.columns_; }

private:
    std::vector<Column> columns_;
};

/// The table's column names for an error message, e.g. "a, b, c" or "a, b, ... (40 columns)", so
/// that "no column 'y'" can show what there is instead.
inline std::string column_list(const Table& table, size_t max_names = 12) {
    std::string out;
    const auto names = table.column_names();
    for (size_t i = 0; i < names.size() && i < max_names; ++i) out += (i ? ", " : "") + names[i];
    if (names.size() > max_names) out += ", ... (" + std::to_string(names.size()) + " columns)";
    return names.empty() ? "no columns" : out;
}

namespace detail {

// Everything one export_arrow() call hands out. The root structs and every child each hold their
// own reference (private_data points at a heap shared_ptr), so a consumer may move a child out
// and release it after the root, as the spec allows; the table lives until the last release.
struct ArrowExport {
    std::shared_ptr<const Table> table;
    std::vector<ArrowSchema> schemas;
    std::vector<ArrowSchema*> schema_ptrs;
    std::vector<ArrowArray> arrays;
    std::vector<ArrowArray*> array_ptrs;
    std::vector<std::array<const void*, 3>> buffers; // per column: validity, offsets or data, data
    std::array<const void*, 1> root_buffers{nullptr};
};
using ArrowExportRef = std::shared_ptr<ArrowExport>;

template <class S> void release_arrow(S* self) noexcept {
    if (self == nullptr || self->release == nullptr) return;
    for (int64_t i = 0; i < self->n_children; ++i) {
        S* child = self->children[i];
        if (child->release != nullptr) child->release(child); // skip children moved out
    }
    auto* ref = static_cast<ArrowExportRef*>(self->private_data);
    self->release = nullptr; // before the delete: `self` may live inside the export it frees
    self->private_data = nullptr;
    delete ref;
}
inline void release_arrow_schema(ArrowSchema* schema) noexcept { release_arrow(schema); }
inline void release_arrow_array(ArrowArray* array) noexcept { release_arrow(array); }

inline const char* arrow_format(ColumnType type) noexcept {
    switch (type) {
    case ColumnType::Int64: return "l";
    case ColumnType::Float64: return "g";
    case ColumnType::Bool: return "b";
    case ColumnType::String: return "U";
    }
    return "n";
}

// Some Arrow readers reject NULL for an empty values buffer although the spec allows it.
alignas(64) inline constexpr uint8_t arrow_empty_buffer[64] = {};

} // namespace detail

/**
 * Exports `table` through the Arrow C Data Interface as a struct array ("+s") with one child per
 * column ("l", "g", "b", "U"), pointing at the table's own buffers: nothing is copied. The
 * exported structs share ownership of the table, so it stays alive (and must not be modified)
 * until the consumer has released the schema, the array and any child it moved out. Both outputs
 * are overwritten; on an exception (allocation failure, null table) they are left untouched.
 */
inline void export_arrow(std::shared_ptr<const Table> table, ArrowSchema* out_schema, ArrowArray* out_array) {
    if (!table) throw std::invalid_argument("export_arrow: null table");
    if (!out_schema || !out_array) throw std::invalid_argument("export_arrow: null output struct");
    auto state = std::make_shared<detail::ArrowExport>();
    state->table = std::move(table);
    const std::vector<Column>& columns = state->table->columns();
    const size_t n = columns.size();
    state->schemas.resize(n);
    state->arrays.resize(n);
    state->buffers.resize(n);
    state->schema_ptrs.reserve(n);
    state->array_ptrs.reserve(n);
    // One reference per struct handed out (n child schemas, n child arrays, two roots). Everything
    // that can throw happens before the first is handed out, so an exception leaks nothing.
    std::vector<std::unique_ptr<detail::ArrowExportRef>> refs;
    refs.reserve(2 * n + 2);
    for (size_t i = 0; i < 2 * n + 2; ++i) refs.push_back(std::make_unique<detail::ArrowExportRef>(state));

    for (size_t i = 0; i < n; ++i) {
        const Column& column = columns[i];
        const void* data = column.data_size() > 0 ? column.data_buffer() : detail::arrow_empty_buffer;
        const bool is_string = column.type() == ColumnType::String;
        state->buffers[i] = is_string ? std::array<const void*, 3>{column.validity_bits(), column.offsets(), data}
                                      : std::array<const void*, 3>{column.validity_bits(), data, nullptr};

        ArrowSchema& schema = state->schemas[i];
        schema.format = detail::arrow_format(column.type());
        schema.name = column.name().c_str();
        schema.flags = ARROW_FLAG_NULLABLE;
        schema.release = &detail::release_arrow_schema;
        schema.private_data = refs[2 * i].release();
        state->schema_ptrs.push_back(&schema);

        ArrowArray& array = state->arrays[i];
        array.length = static_cast<int64_t>(column.size());
        array.null_count = static_cast<int64_t>(column.null_count());
        array.n_buffers = is_string ? 3 : 2;
        array.buffers = state->buffers[i].data();
        array.release = &detail::release_arrow_array;
        array.private_data = refs[2 * i + 1].release();
        state->array_ptrs.push_back(&array);
    }

    *out_schema = ArrowSchema{};
    out_schema->format = "+s";
    out_schema->name = "";
    out_schema->n_children = static_cast<int64_t>(n);
    out_schema->children = state->schema_ptrs.data();
    out_schema->release = &detail::release_arrow_schema;
    out_schema->private_data = refs[2 * n].release();

    *out_array = ArrowArray{};
    out_array->length = static_cast<int64_t>(state->table->num_rows());
    out_array->n_buffers = 1;
    out_array->buffers = state->root_buffers.data();
    out_array->n_children = static_cast<int64_t>(n);
    out_array->children = state->array_ptrs.data();
    out_array->release = &detail::release_arrow_array;
    out_array->private_data = refs[2 * n + 1].release();
}

} // namespace trellis

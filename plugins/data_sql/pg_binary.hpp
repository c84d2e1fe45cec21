// PostgreSQL's binary wire format for the column types data.sql reads, decoded straight into
// Table columns: no text parsing for numbers, and no heap allocation per value.
#pragma once

#include <trellis/table.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace data_sql {

/// How a PostgreSQL type's binary value is read.
enum class PgKind { Int2, Int4, Int8, Oid, Float4, Float8, Numeric, Bool, Text, Jsonb, Char, Uuid, Date, Time, Timestamp, TimestampTz };

/// The kind for a column of type `oid` (a built-in type OID), or nullopt for a type data.sql
/// does not read (bytea, arrays, intervals, geometric, enums and other user-defined types...).
std::optional<PgKind> pg_kind(uint32_t oid);

/// The Table column type a kind becomes: integers int, floats and numeric float, bool bool, and
/// text, json, uuid, dates and times string.
trellis::ColumnType column_type(PgKind kind);

/// Appends the binary value `data` (`size` bytes) of kind `kind` to `column` (of column_type(kind)).
/// `scratch` is reused between calls for numeric values. std::runtime_error for a malformed value.
void append_binary(trellis::Column& column, PgKind kind, const char* data, size_t size, std::string& scratch);

} // namespace data_sql

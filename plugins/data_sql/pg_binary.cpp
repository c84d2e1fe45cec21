#include "pg_binary.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace data_sql {
namespace {

using trellis::ColumnType;

// Built-in type OIDs (src/include/catalog/pg_type.dat); they are fixed for every server.
constexpr uint32_t BOOLOID = 16, CHAROID = 18, NAMEOID = 19, INT8OID = 20, INT2OID = 21, INT4OID = 23, TEXTOID = 25,
                   OIDOID = 26, JSONOID = 114, XMLOID = 142, FLOAT4OID = 700, FLOAT8OID = 701, UNKNOWNOID = 705,
                   BPCHAROID = 1042, VARCHAROID = 1043, DATEOID = 1082, TIMEOID = 1083, TIMESTAMPOID = 1114,
                   TIMESTAMPTZOID = 1184, NUMERICOID = 1700, UUIDOID = 2950, JSONBOID = 3802;

// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
constexpr int64_t postgres_epoch_days = 10957;
constexpr int64_t micros_per_day = 86'400'000'000;

template <class T> T read_be(const char* data) {
    using U = std::make_unsigned_t<T>;
    U value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) value = static_cast<U>((value << 8) | static_cast<unsigned char>(data[i]));
    return static_cast<T>(value);
}

void expect_size(size_t size, size_t wanted, const char* type) {
    if (size != wanted)
        throw std::runtime_error(std::string("malformed ") + type + " value from the server (" + std::to_string(size) +
                                 " bytes)");
}

// The proleptic Gregorian date of `days` since 1970-01-01 (H. Hinnant's civil_from_days).
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    day = doy - (153 * mp + 2) / 5 + 1;
    month = mp < 10 ? mp + 3 : mp - 9;
    year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2);
}

// "YYYY-MM-DD", with " BC" for years before 1 as PostgreSQL writes them; returns the length.
int format_date(char* out, size_t room, int64_t days_since_1970, bool& bc) {
    int64_t year = 0;
    unsigned month = 0, day = 0;
    civil_from_days(days_since_1970, year, month, day);
    bc = year <= 0;
    return std::snprintf(out, room, "%04lld-%02u-%02u", static_cast<long long>(bc ? 1 - year : year), month, day);
}

// "HH:MM:SS" and, when not whole, ".ffffff" without trailing zeros, as PostgreSQL writes times.
int format_time(char* out, size_t room, int64_t micros_of_day) {
    const int64_t seconds = micros_of_day / 1'000'000;
    int64_t fraction = micros_of_day % 1'000'000;
    int length = std::snprintf(out, room, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                               static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
    if (fraction != 0) {
        int digits = 6;
        while (fraction % 10 == 0) fraction /= 10, --digits;
        length += std::snprintf(out + length, room - static_cast<size_t>(length), ".%0*lld", digits,
                                static_cast<long long>(fraction));
    }
    return length;
}

void append_timestamp(trellis::Column& column, int64_t micros, bool with_zone) {
    if (micros == std::numeric_limits<int64_t>::max()) return column.append_string("infinity");
    if (micros == std::numeric_limits<int64_t>::min()) return column.append_string("-infinity");
    int64_t days = micros / micros_per_day;
    int64_t rest = micros % micros_per_day;
    if (rest < 0) rest += micros_per_day, --days;
    char text[80];
    bool bc = false;
    int length = format_date(text, sizeof text, days + postgres_epoch_days, bc);
    text[length++] = ' ';
    length += format_time(text + length, sizeof text - static_cast<size_t>(length), rest);
    if (with_zone) length += std::snprintf(text + length, sizeof text - static_cast<size_t>(length), "+00");
    if (bc) length += std::snprintf(text + length, sizeof text - static_cast<size_t>(length), " BC");
    column.append_string(std::string_view(text, static_cast<size_t>(length)));
}

// numeric: int16 ndigits, int16 weight, uint16 sign, uint16 dscale, then ndigits base-10000
// digits, the first worth 10000^weight. Written out as decimal digits with an exponent and read
// with from_chars, which rounds correctly to the nearest double.
double numeric_value(const char* data, size_t size, std::string& scratch) {
    if (size < 8) throw std::runtime_error("malformed numeric value from the server");
    const int16_t ndigits = read_be<int16_t>(data);
    const int16_t weight = read_be<int16_t>(data + 2);
    const uint16_t sign = read_be<uint16_t>(data + 4);
    if (sign == 0xC000) return std::numeric_limits<double>::quiet_NaN();
    if (sign == 0xD000) return std::numeric_limits<double>::infinity();
    if (sign == 0xF000) return -std::numeric_limits<double>::infinity();
    if (ndigits < 0 || size != 8 + 2 * static_cast<size_t>(ndigits))
        throw std::runtime_error("malformed numeric value from the server");
    if (ndigits == 0) return 0.0;
    scratch.clear();
    if (sign == 0x4000) scratch += '-';
    char group[8];
    for (int16_t i = 0; i < ndigits; ++i) {
        const int16_t digit = read_be<int16_t>(data + 8 + 2 * i);
        std::snprintf(group, sizeof group, "%04d", static_cast<int>(digit));
        scratch.append(group, 4);
    }
    scratch += 'e';
    scratch += std::to_string(4 * (static_cast<int>(weight) - (ndigits - 1)));
    double value = 0;
    const auto [ptr, ec] = std::from_chars(scratch.data(), scratch.data() + scratch.size(), value);
    if (ec == std::errc::result_out_of_range) // beyond a double: the exponent says which way
        return weight > 0 ? (sign == 0x4000 ? -HUGE_VAL : HUGE_VAL) : (sign == 0x4000 ? -0.0 : 0.0);
    if (ec != std::errc() || ptr != scratch.data() + scratch.size())
        throw std::runtime_error("malformed numeric value from the server");
    return value;
}

} // namespace

std::optional<PgKind> pg_kind(uint32_t oid) {
    switch (oid) {
    case INT2OID: return PgKind::Int2;
    case INT4OID: return PgKind::Int4;
    case INT8OID: return PgKind::Int8;
    case OIDOID: return PgKind::Oid;
    case FLOAT4OID: return PgKind::Float4;
    case FLOAT8OID: return PgKind::Float8;
    case NUMERICOID: return PgKind::Numeric;
    case BOOLOID: return PgKind::Bool;
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
    case NAMEOID:
    case JSONOID:
    case XMLOID:
    case UNKNOWNOID: return PgKind::Text;
    case JSONBOID: return PgKind::Jsonb;
    case CHAROID: return PgKind::Char;
    case UUIDOID: return PgKind::Uuid;
    case DATEOID: return PgKind::Date;
    case TIMEOID: return PgKind::Time;
    case TIMESTAMPOID: return PgKind::Timestamp;
    case TIMESTAMPTZOID: return PgKind::TimestampTz;
    default: return std::nullopt;
    }
}

ColumnType column_type(PgKind kind) {
    switch (kind) {
    case PgKind::Int2:
    case PgKind::Int4:
    case PgKind::Int8:
    case PgKind::Oid: return ColumnType::Int64;
    case PgKind::Float4:
    case PgKind::Float8:
    case PgKind::Numeric: return ColumnType::Float64;
    case PgKind::Bool: return ColumnType::Bool;
    default: return ColumnType::String;
    }
}

void append_binary(trellis::Column& column, PgKind kind, const char* data, size_t size, std::string& scratch) {
    switch (kind) {
    case PgKind::Int2: expect_size(size, 2, "int2"); return column.append_int(read_be<int16_t>(data));
    case PgKind::Int4: expect_size(size, 4, "int4"); return column.append_int(read_be<int32_t>(data));
    case PgKind::Int8: expect_size(size, 8, "int8"); return column.append_int(read_be<int64_t>(data));
    case PgKind::Oid: expect_size(size, 4, "oid"); return column.append_int(read_be<uint32_t>(data));
    case PgKind::Float4:
        expect_size(size, 4, "float4");
        return column.append_float(std::bit_cast<float>(read_be<uint32_t>(data)));
    case PgKind::Float8:
        expect_size(size, 8, "float8");
        return column.append_float(std::bit_cast<double>(read_be<uint64_t>(data)));
    case PgKind::Numeric: return column.append_float(numeric_value(data, size, scratch));
    case PgKind::Bool: expect_size(size, 1, "bool"); return column.append_bool(data[0] != 0);
    case PgKind::Text:
    case PgKind::Char: return column.append_string(std::string_view(data, size));
    case PgKind::Jsonb: // a version byte (1), then the JSON text
        if (size < 1 || data[0] != 1) throw std::runtime_error("malformed or unknown jsonb version from the server");
        return column.append_string(std::string_view(data + 1, size - 1));
    case PgKind::Uuid: {
        expect_size(size, 16, "uuid");
        static constexpr char hex[] = "0123456789abcdef";
        char text[36];
        size_t at = 0;
        for (size_t i = 0; i < 16; ++i) {
            if (i == 4 || i == 6 || i == 8 || i == 10) text[at++] = '-';
            const auto byte = static_cast<unsigned char>(data[i]);
            text[at++] = hex[byte >> 4];
            text[at++] = hex[byte & 15];
        }
        return column.append_string(std::string_view(text, sizeof text));
    }
    case PgKind::Date: {
        expect_size(size, 4, "date");
        const int32_t days = read_be<int32_t>(data);
        if (days == std::numeric_limits<int32_t>::max()) return column.append_string("infinity");
        if (days == std::numeric_limits<int32_t>::min()) return column.append_string("-infinity");
        char text[40];
        bool bc = false;
        int length = format_date(text, sizeof text, days + postgres_epoch_days, bc);
        if (bc) length += std::snprintf(text + length, sizeof text - static_cast<size_t>(length), " BC");
        return column.append_string(std::string_view(text, static_cast<size_t>(length)));
    }
    case PgKind::Time: {
        expect_size(size, 8, "time");
        char text[32];
        const int length = format_time(text, sizeof text, read_be<int64_t>(data));
        return column.append_string(std::string_view(text, static_cast<size_t>(length)));
    }
    case PgKind::Timestamp: expect_size(size, 8, "timestamp"); return append_timestamp(column, read_be<int64_t>(data), false);
    case PgKind::TimestampTz:
        expect_size(size, 8, "timestamptz");
        return append_timestamp(column, read_be<int64_t>(data), true);
    }
}

} // namespace data_sql

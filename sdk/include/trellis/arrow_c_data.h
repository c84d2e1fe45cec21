/*
 * The Arrow C Data Interface: https://arrow.apache.org/docs/format/CDataInterface.html
 *
 * These two structs are the spec's own definitions, copied verbatim and guarded by the spec's
 * ARROW_C_DATA_INTERFACE macro. That way they can sit next to Arrow's abi.h, nanoarrow or any other
 * vendored copy in one translation unit, and a trellis Table can be handed to pyarrow, polars,
 * DuckDB or Arrow C++ without linking any of them.
 */
#ifndef TRELLIS_ARROW_C_DATA_H
#define TRELLIS_ARROW_C_DATA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

/** Dictionary indices are ordered (ArrowSchema::flags). */
#define ARROW_FLAG_DICTIONARY_ORDERED 1
/** The field may hold nulls (ArrowSchema::flags). */
#define ARROW_FLAG_NULLABLE 2
/** Map keys are sorted within each map value (ArrowSchema::flags). */
#define ARROW_FLAG_MAP_KEYS_SORTED 4

/**
 * The type of an array: a format string ("l" int64, "g" float64, "b" bool, "U" large utf8,
 * "+s" struct, ...) plus name, metadata and children. Owned by its producer until `release`.
 */
struct ArrowSchema {
    /* Array type description */
    const char* format;
    const char* name;
    const char* metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema** children;
    struct ArrowSchema* dictionary;

    /* Release callback: frees the producer's resources and sets `release` to NULL. */
    void (*release)(struct ArrowSchema*);
    /* Opaque producer-specific data */
    void* private_data;
};

/**
 * The data of an array: length, null count and buffer pointers laid out as the schema's format
 * says. Owned by its producer until `release`; a consumer may move it by copying the struct and
 * setting the source's `release` to NULL.
 */
struct ArrowArray {
    /* Array data description */
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void** buffers;
    struct ArrowArray** children;
    struct ArrowArray* dictionary;

    /* Release callback: frees the producer's resources and sets `release` to NULL. */
    void (*release)(struct ArrowArray*);
    /* Opaque producer-specific data */
    void* private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TRELLIS_ARROW_C_DATA_H */

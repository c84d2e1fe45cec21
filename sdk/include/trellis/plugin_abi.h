/*
 * trellis plugin ABI — the binary boundary between the trellis host and a plugin.
 *
 * Everything that crosses between a plugin `.so` and the host is declared here, in C, so that a
 * vendor can ship a closed plugin built with another compiler or C++ standard library. No C++ type,
 * exception or allocator crosses this boundary:
 *   - strings are NUL-terminated UTF-8 owned by whoever passes them, valid for the call;
 *   - artifacts cross as bytes in the documented trellis serialisation (see artifacts.hpp);
 *   - errors are host-owned values that the plugin fills in through trellis_host_api::error_set;
 *   - memory the plugin allocates is never freed by the host and vice versa.
 *
 * VERSIONING RULE
 *   TRELLIS_API_MAJOR / TRELLIS_API_MINOR version this header.
 *   - Adding an optional entry point (a new function pointer in a reserved slot, a new host API
 *     function appended to trellis_host_api) bumps MINOR.
 *   - Changing or removing anything — a type, a field, an order, a meaning — bumps MAJOR.
 *   The host accepts a plugin when plugin major == host major and plugin minor <= host minor. It
 *   reads the plugin's `trellis_plugin_api_version` data symbol and checks it before it calls any
 *   function of the plugin.
 *
 * A plugin exports exactly two symbols (the C++ layer's TRELLIS_PLUGIN macro writes both):
 *   const trellis_api_version trellis_plugin_api_version;            data, read first
 *   const trellis_plugin_descriptor* trellis_plugin_get_descriptor(void);  called after the check
 * The host reads the version from the file's dynamic symbol table before it loads the library, so
 * a plugin built for another API is refused before any of its code, static constructors included,
 * runs.
 *
 * LIFETIMES
 *   The descriptor and everything it points to must stay valid and unchanged while the library is
 *   loaded; the host reads it again when it runs a stage. Libraries are never unloaded.
 *   The host refuses a descriptor whose struct_size is smaller than its own
 *   sizeof(trellis_plugin_descriptor), and any reserved field that is not NULL.
 */
#ifndef TRELLIS_PLUGIN_ABI_H
#define TRELLIS_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version of this ABI: plugins must match it exactly. */
#define TRELLIS_API_MAJOR 1
/** Minor version of this ABI: plugins may be built for this minor or an older one. */
#define TRELLIS_API_MINOR 3

/** Marks a symbol as exported from a plugin built with hidden visibility. */
#if defined(_WIN32)
#define TRELLIS_PLUGIN_EXPORT __declspec(dllexport)
#else
#define TRELLIS_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/** Name of the data symbol holding the plugin's trellis_api_version. */
#define TRELLIS_API_VERSION_SYMBOL "trellis_plugin_api_version"
/** Name of the function symbol returning the plugin's descriptor. */
#define TRELLIS_DESCRIPTOR_SYMBOL "trellis_plugin_get_descriptor"

/** The ABI version a plugin was built for. */
typedef struct trellis_api_version {
    uint32_t major; /**< must equal the host's TRELLIS_API_MAJOR */
    uint32_t minor; /**< must be <= the host's TRELLIS_API_MINOR */
} trellis_api_version;

/** Status codes returned by every entry point; 0 is success. */
typedef enum trellis_status {
    TRELLIS_OK = 0,               /**< success */
    TRELLIS_ERR_FAILED = 1,       /**< the operation failed; the error message says why */
    TRELLIS_ERR_INVALID = 2,      /**< bad input or configuration */
    TRELLIS_ERR_NOT_FOUND = 3,    /**< a named input, output or config key does not exist */
    TRELLIS_ERR_TYPE = 4,         /**< a value or artifact has another type than asked for */
    TRELLIS_ERR_CANCELLED = 5,    /**< the run was cancelled */
    TRELLIS_ERR_INTERNAL = 6      /**< a bug: an exception or invariant failure inside a plugin */
} trellis_status;

/** The five stage kinds a pipeline is made of. */
typedef enum trellis_stage_kind {
    TRELLIS_STAGE_DATA = 1,    /**< read, validate, transform or split data */
    TRELLIS_STAGE_TRAIN = 2,   /**< train or evaluate models */
    TRELLIS_STAGE_DEPLOY = 3,  /**< register, export or serve models */
    TRELLIS_STAGE_MONITOR = 4, /**< watch data and predictions, detect drift */
    TRELLIS_STAGE_GOVERN = 5   /**< gates, approvals, audit */
} trellis_stage_kind;

/** Artifact types that flow between stages. */
typedef enum trellis_artifact_type {
    TRELLIS_ARTIFACT_TABLE = 1,     /**< columnar typed table with missing values */
    TRELLIS_ARTIFACT_MODEL = 2,     /**< flavor name + bytes + input signature */
    TRELLIS_ARTIFACT_METRICS = 3,   /**< name -> number */
    TRELLIS_ARTIFACT_REPORT = 4,    /**< a JSON document */
    TRELLIS_ARTIFACT_FILE = 5,      /**< a path to a file */
    TRELLIS_ARTIFACT_DIRECTORY = 6  /**< a path to a directory */
} trellis_artifact_type;

/** Types of configuration values. */
typedef enum trellis_value_type {
    TRELLIS_VALUE_BOOL = 1,        /**< true or false */
    TRELLIS_VALUE_INT = 2,         /**< signed 64-bit integer */
    TRELLIS_VALUE_FLOAT = 3,       /**< 64-bit floating point (an integer literal is accepted) */
    TRELLIS_VALUE_STRING = 4,      /**< UTF-8 string */
    TRELLIS_VALUE_STRING_LIST = 5, /**< list of UTF-8 strings */
    TRELLIS_VALUE_JSON = 6         /**< any JSON value, passed to the plugin as text */
} trellis_value_type;

/** Log levels for trellis_host_api::log. */
typedef enum trellis_log_level {
    TRELLIS_LOG_TRACE = 0, /**< very detailed tracing */
    TRELLIS_LOG_DEBUG = 1, /**< debugging detail */
    TRELLIS_LOG_INFO = 2,  /**< normal progress */
    TRELLIS_LOG_WARN = 3,  /**< something looks wrong but the stage goes on */
    TRELLIS_LOG_ERROR = 4  /**< something failed */
} trellis_log_level;

/** Port flags. */
#define TRELLIS_PORT_OPTIONAL 1u /**< an input that need not be connected */

/** A declared input or output of a stage. */
typedef struct trellis_port {
    const char* name;       /**< port name, [a-z_][a-z0-9_]*, unique within the stage's inputs or outputs */
    uint32_t artifact_type; /**< a trellis_artifact_type */
    uint32_t flags;         /**< TRELLIS_PORT_* flags */
    const char* doc;        /**< one-line description, may be NULL */
    void* reserved[4];      /**< room to grow; must be NULL */
} trellis_port;

/** A configuration key a stage accepts. */
typedef struct trellis_config_key {
    const char* key;          /**< key name, [a-z_][a-z0-9_]*, unique within the stage */
    uint32_t type;            /**< a trellis_value_type */
    uint32_t required;        /**< non-zero: the pipeline must set it */
    const char* default_json; /**< default as JSON text, NULL for none; must match type */
    const char* doc;          /**< one-line description, may be NULL */
    void* reserved[4];        /**< room to grow; must be NULL */
} trellis_config_key;

/** Opaque host-owned error value, filled in with trellis_host_api::error_set. */
typedef struct trellis_error trellis_error;
/** Opaque host-owned context of one call into a plugin: a stage execution, an init, or a flavor
 *  call. Only stage executions have config, inputs and outputs; every context has a logger. */
typedef struct trellis_context trellis_context;
/** Opaque host-owned output buffer that a flavor's predict fills in. */
typedef struct trellis_buffer trellis_buffer;
/** Opaque plugin-owned predictor made by a flavor's load and freed by its destroy. */
typedef struct trellis_predictor trellis_predictor;

/**
 * Functions the host offers to plugins. Passed to every entry point; valid for the life of the
 * process. New functions are only ever appended (a minor bump): check `struct_size` before calling
 * a function newer than the minor you were built for.
 */
typedef struct trellis_host_api {
    uint32_t struct_size;        /**< sizeof(trellis_host_api) of the host */
    trellis_api_version version; /**< the host's ABI version */

    /** Records an error: the host copies `message`. */
    void (*error_set)(trellis_error* err, int32_t code, const char* message);

    /** Logs a line through the context's named logger (the stage's, or the plugin's); with a NULL
     *  context, through the host's own logger. */
    void (*log)(trellis_context* ctx, int32_t level, const char* message);

    /** Reads a bool config value into *out (0 or 1). */
    int32_t (*config_get_bool)(trellis_context* ctx, const char* key, int32_t* out);
    /** Reads an int config value into *out. */
    int32_t (*config_get_int)(trellis_context* ctx, const char* key, int64_t* out);
    /** Reads a float config value into *out. */
    int32_t (*config_get_float)(trellis_context* ctx, const char* key, double* out);
    /** Reads a string, or the JSON text of a json value; *out stays valid for the run. */
    int32_t (*config_get_string)(trellis_context* ctx, const char* key, const char** out);
    /** Number of items of a string_list config value. */
    int32_t (*config_get_list_size)(trellis_context* ctx, const char* key, size_t* out);
    /** Item `index` of a string_list config value; *out stays valid for the run. */
    int32_t (*config_get_list_item)(trellis_context* ctx, const char* key, size_t index, const char** out);
    /** Whether the pipeline set `key` explicitly (1) or it holds its default or nothing (0). */
    int32_t (*config_is_set)(trellis_context* ctx, const char* key, int32_t* out);

    /** Serialised bytes of input `port`; valid for the run. Unconnected optional input: NOT_FOUND. */
    int32_t (*input_get)(trellis_context* ctx, const char* port, uint32_t* type, const uint8_t** data, size_t* size);
    /** Sets output `port` to serialised bytes of type `type`; the host copies them. */
    int32_t (*output_set)(trellis_context* ctx, const char* port, uint32_t type, const uint8_t* data, size_t size);

    /** Logs a metric value at `step` (use 0 for a scalar). */
    int32_t (*metric_log)(trellis_context* ctx, const char* name, double value, int64_t step);
    /** A directory private to this execution, removed by the host afterwards. */
    const char* (*scratch_dir)(trellis_context* ctx);
    /** Non-zero once the run was cancelled: a long stage checks it and returns CANCELLED. */
    int32_t (*is_cancelled)(trellis_context* ctx);

    /** Copies `size` bytes into a host-owned output buffer. */
    int32_t (*buffer_set)(trellis_buffer* buffer, const uint8_t* data, size_t size);

    /* ---- since 1.1 ---- */

    /** Predicts with `model` (a serialised Model) on `table` (a serialised Table of features) through
     *  the flavor plugin named in the model, whichever plugin provides it. On success *out points
     *  at a serialised Table of predictions, valid for the run. On failure, last_error says why. */
    int32_t (*model_predict)(trellis_context* ctx, const uint8_t* model, size_t model_size, const uint8_t* table,
                             size_t table_size, const uint8_t** out, size_t* out_size);
    /** The message of the last host call on `ctx` that failed ("" if none); valid until the next call. */
    const char* (*last_error)(trellis_context* ctx);

    /* ---- since 1.2 ---- */

    /** Records a param of this execution (a hyperparameter, a data version...): `value_json` is JSON
     *  text, e.g. "0.1" or "\"adam\"". Logging a key again replaces its value. */
    int32_t (*param_log)(trellis_context* ctx, const char* key, const char* value_json);
    /** Registers the Model on input `input_port` in the host's model registry as `name`, at
     *  `version` (0: the next free version), published at `uri` (may be NULL). Recorded when the
     *  execution succeeds; `trellis lineage name:version` starts from it and gc keeps it. */
    int32_t (*model_register)(trellis_context* ctx, const char* input_port, const char* name, int64_t version,
                              const char* uri);
    /* ---- since 1.3 ---- */
    /** Reports how far a long stage is: `done` of `total` units (rounds, rows, files...); the host
     *  shows it in the run's status line, or as a plain log line now and then off a terminal.
     *  Cheap enough to call every iteration. */
    int32_t (*progress_report)(trellis_context* ctx, double done, double total);
} trellis_host_api;

/** Runs one stage execution; returns a trellis_status and fills `err` on failure. */
typedef int32_t (*trellis_stage_run_fn)(const trellis_host_api* host, trellis_context* ctx, trellis_error* err);

/** Since 1.3, optional: says what the stage will read from outside its inputs and config (a
 *  database table's row count and max id, a version number...), so the host can answer the stage
 *  from its cache only when that has not changed. Called before the cache lookup with the stage's
 *  config (no inputs, no outputs). Writes the fingerprint text with host->buffer_set into `out`
 *  (mixed into the stage's cache key), and sets *cacheable to 0 for a stage that must run every
 *  time (1 otherwise). A failure means the stage is not answered from the cache; it then runs and
 *  reports its own error. */
typedef int32_t (*trellis_stage_fingerprint_fn)(const trellis_host_api* host, trellis_context* ctx, trellis_buffer* out,
                                                int32_t* cacheable, trellis_error* err);

/** One stage a plugin provides. */
typedef struct trellis_stage_descriptor {
    uint32_t kind;                      /**< a trellis_stage_kind */
    const char* name;                   /**< pipeline-visible name, e.g. "data.csv": [a-z0-9_]+ parts joined by dots */
    const char* description;            /**< one line */
    const trellis_port* inputs;         /**< declared inputs */
    uint32_t input_count;               /**< number of inputs */
    const trellis_port* outputs;        /**< declared outputs */
    uint32_t output_count;              /**< number of outputs */
    const trellis_config_key* config;   /**< config schema */
    uint32_t config_count;              /**< number of config keys */
    trellis_stage_run_fn run;           /**< entry point, required */
    trellis_stage_fingerprint_fn fingerprint; /**< since 1.3, optional (NULL: the cache key is the
                                                   plugin, config, named files and inputs) */
    void* reserved[7];                  /**< room to grow; must be NULL */
} trellis_stage_descriptor;

/** Loads a model (a serialised Model artifact) into a predictor. */
typedef int32_t (*trellis_flavor_load_fn)(const trellis_host_api* host, trellis_context* ctx, const uint8_t* model,
                                          size_t size, trellis_predictor** out, trellis_error* err);
/** Predicts: input is a serialised Table, output a serialised Table written with buffer_set. May be
 *  called from several threads at once for one predictor. */
typedef int32_t (*trellis_flavor_predict_fn)(const trellis_host_api* host, trellis_context* ctx,
                                             trellis_predictor* predictor, const uint8_t* table, size_t size,
                                             trellis_buffer* out, trellis_error* err);
/** Frees a predictor made by load. */
typedef void (*trellis_flavor_destroy_fn)(trellis_predictor* predictor);

/** A model flavor: how the host turns model bytes of this flavor into predictions. */
typedef struct trellis_flavor_descriptor {
    const char* name;                   /**< flavor name stored in Model artifacts, [a-z_][a-z0-9_]*, e.g. "linear" */
    const char* description;            /**< one line */
    trellis_flavor_load_fn load;        /**< required */
    trellis_flavor_predict_fn predict;  /**< required */
    trellis_flavor_destroy_fn destroy;  /**< required */
    void* reserved[4];                  /**< room to grow; must be NULL */
} trellis_flavor_descriptor;

/** Optional one-time initialisation, called once after the version check. */
typedef int32_t (*trellis_plugin_init_fn)(const trellis_host_api* host, trellis_context* ctx, trellis_error* err);

/** Describes a plugin: who made it and what it provides. */
typedef struct trellis_plugin_descriptor {
    uint32_t struct_size;                       /**< sizeof(trellis_plugin_descriptor) of the plugin */
    const char* name;                           /**< unique plugin name, [a-z0-9][a-z0-9_.-]* */
    const char* version;                        /**< plugin version, e.g. "1.2.0" */
    const char* vendor;                         /**< who ships it */
    const char* license;                        /**< SPDX identifier, e.g. "Apache-2.0" */
    const char* description;                    /**< one line */
    const trellis_stage_descriptor* stages;     /**< stages provided */
    uint32_t stage_count;                       /**< number of stages */
    const trellis_flavor_descriptor* flavors;   /**< model flavors provided */
    uint32_t flavor_count;                      /**< number of flavors */
    trellis_plugin_init_fn init;                /**< optional, may be NULL */
    void* reserved[16];                         /**< room to grow; must be NULL */
} trellis_plugin_descriptor;

/** Signature of the descriptor entry point a plugin exports as TRELLIS_DESCRIPTOR_SYMBOL. */
typedef const trellis_plugin_descriptor* (*trellis_get_descriptor_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TRELLIS_PLUGIN_ABI_H */

/* cfg_schema: the configuration schema as tables of parameter descriptors.
 *
 * Every configurable value of the gateway is described once, by the module that owns it, as a
 * cfg_param_t row: dotted key, type, unit, range, default, flags and a one-line documentation.
 * The value itself lives in the module's own config struct at `offset`; a section
 * (cfg_section_t) ties a table to the struct it describes. Everything that loads, validates,
 * prints, documents or serves configuration (JSON files, the REST API, MQTT commands,
 * --print-default-config, docs) walks these tables, so the schema cannot drift from the code.
 *
 * Storage per type (at `offset` inside the section's struct):
 *   CFG_BOOL   bool
 *   CFG_INT    int32_t             range [min, max]
 *   CFG_FLOAT  float               range [min, max]
 *   CFG_STRING char[size]          length 0..size-1 (min = minimum length)
 *   CFG_ENUM   int32_t             index into names[0..name_count-1]
 *
 * No allocation; tables are const and live in ROM.
 */
#ifndef TB_CFG_SCHEMA_H
#define TB_CFG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tb_docs.h"
#include "core/tb_err.h"

typedef enum { CFG_BOOL, CFG_INT, CFG_FLOAT, CFG_STRING, CFG_ENUM } cfg_type_t;

enum {
    CFG_F_SECRET = 1u << 0,   /* write-only: never shown, logged, exported or backed up */
    CFG_F_RESTART = 1u << 1,  /* takes effect after a restart only */
    CFG_F_READONLY = 1u << 2, /* shown, cannot be changed at run time */
    CFG_F_ADVANCED = 1u << 3  /* hidden behind "advanced" in the UI */
};

/* Units a row may name (CFG_ROW_FLOAT/INT's UNIT argument): (identifier, text). A row stores the
 * unit's offset in one shared pool of the texts instead of a pointer to its own copy; a UNIT
 * missing here does not compile ("initializer element is not constant" at the row, naming
 * cfg_unit_not_in_CFG_UNITS). At most 5 characters each (checked). */
#define CFG_UNITS(X, u)                                                                                \
    X(u, unit_none, "") X(u, unit_v, "V") X(u, unit_a, "A") X(u, unit_pct, "%") X(u, unit_degc, "°C")     \
    X(u, unit_ms, "ms") X(u, unit_s, "s") X(u, unit_min, "min") X(u, unit_d, "d") X(u, unit_a_s, "A/s") \
    X(u, unit_v_min, "V/min") X(u, unit_hz, "Hz") X(u, unit_wh, "Wh") X(u, unit_b, "B") X(u, unit_c, "C")

#define CFG_UNIT_FIELD_(u, id, text) char id[sizeof text];
struct cfg_unit_pool {
    CFG_UNITS(CFG_UNIT_FIELD_, ~)
};
extern const struct cfg_unit_pool cfg_unit_pool;

typedef struct {
    const char *key;    /* dotted, lower_snake parts: "charge.cell_bulk_v" */
    float min;          /* INT/FLOAT: inclusive minimum; STRING: minimum length */
    float max;          /* INT/FLOAT: inclusive maximum; STRING: ignored (size-1 is the max) */
    float def;          /* default for BOOL (0/1), INT, FLOAT, ENUM (index) */
    union {             /* one or the other, by type */
        const char *def_str;      /* STRING: default (NULL = "") */
        const char *const *names; /* ENUM: value names */
    };
#if TB_CORE_DOCS
    const char *doc;    /* cfg_param_doc(): one sentence, what it does and why the default */
#endif
    uint16_t offset;    /* offsetof(struct, field); the field's size: cfg_param_size() */
    unsigned type : 3;  /* cfg_type_t */
    unsigned flags : 5; /* CFG_F_* */
    union {             /* one byte, by type: */
        uint8_t str_size;   /* STRING: sizeof(field), i.e. the longest value + 1 */
        uint8_t name_count; /* ENUM: number of names */
        uint8_t unit;       /* INT, FLOAT: cfg_param_unit(), offset of the text in cfg_unit_pool */
    };
} cfg_param_t;          /* 24 bytes on a 32-bit target (28 with TB_CORE_DOCS) */

/* A section check's refusal (mqtt_cfg_check, wifi_prov_cfg_check): the key at fault and why, each
 * written when its pointer is not NULL; returns TB_ERR_RANGE. */
static inline int cfg_refuse(const char **key, const char **why, const char *k, const char *w)
{
    if (key) {
        *key = k;
    }
    return tb_err_why(why, TB_ERR_RANGE, w);
}

/* Unit of an INT/FLOAT value: "V", "A", "ms", "%", "°C", ... or "". Never NULL. */
static inline const char *cfg_param_unit(const cfg_param_t *p)
{
    return p->type == CFG_INT || p->type == CFG_FLOAT ? (const char *)&cfg_unit_pool + p->unit : "";
}

/* sizeof the field at `offset` (the storage of the type, see above; checked when a row is built). */
static inline size_t cfg_param_size(const cfg_param_t *p)
{
    return p->type == CFG_STRING ? p->str_size : p->type == CFG_BOOL ? sizeof(bool) : sizeof(int32_t);
}

/* The row's documentation sentence; "" when built with TB_CORE_DOCS=0 (core/tb_docs.h), which
 * drops the text and the pointer from every row. Never NULL. */
static inline const char *cfg_param_doc(const cfg_param_t *p)
{
#if TB_CORE_DOCS
    return p->doc;
#else
    (void)p;
    return "";
#endif
}

typedef struct {
    const char *name;           /* first key component, e.g. "charge" */
    const cfg_param_t *params;
    size_t count;
    size_t struct_size;         /* sizeof the section struct, for bounds checks */
} cfg_section_t;

/* Row constructors keep tables readable. S is the struct type, F the field (an offset, string
 * size or name count that does not fit the row fails to compile: -Woverflow). DOC is dropped when
 * TB_CORE_DOCS is 0 (core/tb_docs.h). UNIT is a string literal from CFG_UNITS; the compiler turns
 * it into the pool offset (the literals compared character by character in a constant
 * initializer, which GCC and Clang fold). */
#if TB_CORE_DOCS
#define CFG_DOC_(DOC) .doc = (DOC),
#else
#define CFG_DOC_(DOC)
#endif
#define CFG_UCH_(s, i) ((s "\0\0\0\0\0")[i])
#define CFG_UEQ_(a, b)                                                                                       \
    (sizeof(a) == sizeof(b) && CFG_UCH_(a, 0) == CFG_UCH_(b, 0) && CFG_UCH_(a, 1) == CFG_UCH_(b, 1) &&       \
     CFG_UCH_(a, 2) == CFG_UCH_(b, 2) && CFG_UCH_(a, 3) == CFG_UCH_(b, 3) && CFG_UCH_(a, 4) == CFG_UCH_(b, 4))
#define CFG_UNIT_TRY_(u, id, text) CFG_UEQ_(u, text) ? offsetof(struct cfg_unit_pool, id) :
int cfg_unit_not_in_CFG_UNITS(void); /* never defined: only named by a row with an unknown unit */
#define CFG_UNIT_(UNIT) (uint8_t)(CFG_UNITS(CFG_UNIT_TRY_, UNIT)(size_t)cfg_unit_not_in_CFG_UNITS())
/* The field must have the type's storage (a negative array size otherwise). */
#define CFG_OFFSET_(S, F, STORAGE) (offsetof(S, F) + 0u * sizeof(char[sizeof(((S *)0)->F) == (STORAGE) ? 1 : -1]))
#define CFG_ROW_(S, F, KEY, TYPE, STORAGE, MIN, MAX, DEF, FLAGS, DOC)                                     \
    .key = KEY, .min = (float)(MIN), .max = (float)(MAX), .def = (float)(DEF), CFG_DOC_(DOC)            \
    .offset = CFG_OFFSET_(S, F, STORAGE), .type = (TYPE), .flags = (FLAGS)
#define CFG_ROW_FLOAT(S, F, KEY, UNIT, MIN, MAX, DEF, FLAGS, DOC) \
    {CFG_ROW_(S, F, KEY, CFG_FLOAT, sizeof(float), MIN, MAX, DEF, FLAGS, DOC), .unit = CFG_UNIT_(UNIT)}
#define CFG_ROW_INT(S, F, KEY, UNIT, MIN, MAX, DEF, FLAGS, DOC) \
    {CFG_ROW_(S, F, KEY, CFG_INT, sizeof(int32_t), MIN, MAX, DEF, FLAGS, DOC), .unit = CFG_UNIT_(UNIT)}
#define CFG_ROW_BOOL(S, F, KEY, DEF, FLAGS, DOC) \
    {CFG_ROW_(S, F, KEY, CFG_BOOL, sizeof(bool), 0, 1, DEF, FLAGS, DOC)}
#define CFG_ROW_STR(S, F, KEY, MINLEN, DEF, FLAGS, DOC)                                               \
    {CFG_ROW_(S, F, KEY, CFG_STRING, sizeof(((S *)0)->F), MINLEN, 0, 0, FLAGS, DOC), .def_str = (DEF), \
     .str_size = sizeof(((S *)0)->F)}
#define CFG_ROW_ENUM(S, F, KEY, NAMES, COUNT, DEF, FLAGS, DOC)                                          \
    {CFG_ROW_(S, F, KEY, CFG_ENUM, sizeof(int32_t), 0, (COUNT) - 1, DEF, FLAGS, DOC), .names = (NAMES), \
     .name_count = (COUNT)}

/* Detail of a refused value, for messages like
 * "charge.cell_bulk_v = 5.2 is out of range [3.3, 3.65] V". Static strings only. */
typedef struct {
    const cfg_param_t *param; /* NULL if the key was unknown */
    const char *reason;       /* "out of range", "not a number", "unknown key", ... */
} cfg_error_t;

/* Fill the section struct with every default. Never fails for a well-formed table. */
void cfg_set_defaults(const cfg_section_t *sec, void *obj);

/* Look a parameter up by its full key ("charge.cell_bulk_v") in one section; NULL if absent. */
const cfg_param_t *cfg_find(const cfg_section_t *sec, const char *key);

/* Validated setters: nothing is written unless the value is acceptable for the parameter's
 * type and range. Return TB_OK, TB_ERR_RANGE, TB_ERR_ARG (wrong type) or TB_ERR_READONLY
 * (only when !allow_readonly). */
int cfg_set_number(const cfg_param_t *p, void *obj, double value, cfg_error_t *err);
int cfg_set_bool(const cfg_param_t *p, void *obj, bool value, cfg_error_t *err);
int cfg_set_string(const cfg_param_t *p, void *obj, const char *value, cfg_error_t *err);
/* ENUM by name (exact match). */
int cfg_set_enum_name(const cfg_param_t *p, void *obj, const char *name, cfg_error_t *err);

/* Getters (no validation). cfg_get_number works for INT, FLOAT, BOOL and ENUM. */
double cfg_get_number(const cfg_param_t *p, const void *obj);
bool cfg_get_bool(const cfg_param_t *p, const void *obj);
const char *cfg_get_string(const cfg_param_t *p, const void *obj);
const char *cfg_get_enum_name(const cfg_param_t *p, const void *obj);

/* Check every value of a section struct against its table (e.g. after loading from storage).
 * Returns TB_OK or the first violation (err filled). */
int cfg_validate(const cfg_section_t *sec, const void *obj, cfg_error_t *err);

#endif

#include "core/cfg_schema.h"
#include "core/tb_bits.h"

#include <math.h>
#include <string.h>

#define CFG_UNIT_TEXT_(u, id, text) text,
const struct cfg_unit_pool cfg_unit_pool = {CFG_UNITS(CFG_UNIT_TEXT_, ~)};
/* CFG_UEQ_ compares 5 characters, and a row's unit is a byte offset into the pool. */
#define CFG_UNIT_LEN_(u, id, text) _Static_assert(sizeof text <= 6, "unit " text " is longer than CFG_UEQ_ compares");
CFG_UNITS(CFG_UNIT_LEN_, ~)
_Static_assert(sizeof cfg_unit_pool <= 256, "unit offsets are 8-bit");

static void *field(const cfg_param_t *p, void *obj)
{
    return (uint8_t *)obj + p->offset;
}

static const void *cfield(const cfg_param_t *p, const void *obj)
{
    return (const uint8_t *)obj + p->offset;
}

static int fail(cfg_error_t *err, const cfg_param_t *p, const char *reason, int code)
{
    if (err) {
        err->param = p;
        err->reason = reason;
    }
    return code;
}

static void store_number(const cfg_param_t *p, void *obj, double v)
{
    switch (p->type) {
    case CFG_INT:
    case CFG_ENUM: {
        int32_t i = (int32_t)v;
        memcpy(field(p, obj), &i, sizeof i);
        break;
    }
    case CFG_FLOAT: {
        float f = (float)v;
        memcpy(field(p, obj), &f, sizeof f);
        break;
    }
    case CFG_BOOL: {
        bool b = v > 0.5 || v < -0.5;
        memcpy(field(p, obj), &b, sizeof b);
        break;
    }
    case CFG_STRING:
        break;
    }
}

void cfg_set_defaults(const cfg_section_t *sec, void *obj)
{
    for (size_t i = 0; i < sec->count; i++) {
        const cfg_param_t *p = &sec->params[i];
        if (p->type == CFG_STRING) {
            char *dst = field(p, obj);
            const char *src = p->def_str ? p->def_str : "";
            size_t n = strlen(src);
            if (n >= p->str_size) {
                n = (size_t)p->str_size - 1u;
            }
            memcpy(dst, src, n);
            dst[n] = '\0';
        } else {
            store_number(p, obj, (double)p->def);
        }
    }
}

const cfg_param_t *cfg_find(const cfg_section_t *sec, const char *key)
{
    if (!key) {
        return NULL;
    }
    for (size_t i = 0; i < sec->count; i++) {
        if (strcmp(sec->params[i].key, key) == 0) {
            return &sec->params[i];
        }
    }
    return NULL;
}

static int check_number(const cfg_param_t *p, double value, cfg_error_t *err)
{
    if (!tb_f64_finite(value)) {
        return fail(err, p, "not a finite number", TB_ERR_RANGE);
    }
    if (p->type == CFG_INT || p->type == CFG_ENUM) {
        if (floor(value) < value) {
            return fail(err, p, "not an integer", TB_ERR_RANGE);
        }
    }
    if (value < (double)p->min || value > (double)p->max) {
        return fail(err, p, "out of range", TB_ERR_RANGE);
    }
    return TB_OK;
}

int cfg_set_number(const cfg_param_t *p, void *obj, double value, cfg_error_t *err)
{
    if (p->type != CFG_INT && p->type != CFG_FLOAT) {
        return fail(err, p, "wrong type: expected a number", TB_ERR_ARG);
    }
    int rc = check_number(p, value, err);
    if (rc != TB_OK) {
        return rc;
    }
    store_number(p, obj, value);
    return TB_OK;
}

int cfg_set_bool(const cfg_param_t *p, void *obj, bool value, cfg_error_t *err)
{
    if (p->type != CFG_BOOL) {
        return fail(err, p, "wrong type: expected true or false", TB_ERR_ARG);
    }
    memcpy(field(p, obj), &value, sizeof value);
    return TB_OK;
}

static bool has_control_chars(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20u || *s == 0x7f) {
            return true;
        }
    }
    return false;
}

int cfg_set_string(const cfg_param_t *p, void *obj, const char *value, cfg_error_t *err)
{
    if (p->type == CFG_ENUM) {
        return cfg_set_enum_name(p, obj, value, err);
    }
    if (p->type != CFG_STRING) {
        return fail(err, p, "wrong type: expected a string", TB_ERR_ARG);
    }
    if (!value) {
        return fail(err, p, "missing value", TB_ERR_ARG);
    }
    size_t n = strlen(value);
    if (n >= p->str_size) {
        return fail(err, p, "too long", TB_ERR_RANGE);
    }
    if ((float)n < p->min) { /* exact: n < str_size <= 255 */
        return fail(err, p, "too short", TB_ERR_RANGE);
    }
    if (has_control_chars(value)) {
        return fail(err, p, "contains control characters", TB_ERR_RANGE);
    }
    memcpy(field(p, obj), value, n + 1u);
    return TB_OK;
}

int cfg_set_enum_name(const cfg_param_t *p, void *obj, const char *name, cfg_error_t *err)
{
    if (p->type != CFG_ENUM) {
        return fail(err, p, "wrong type: not an enumeration", TB_ERR_ARG);
    }
    for (uint8_t i = 0; name && i < p->name_count; i++) {
        if (strcmp(p->names[i], name) == 0) {
            int32_t v = i;
            memcpy(field(p, obj), &v, sizeof v);
            return TB_OK;
        }
    }
    return fail(err, p, "not one of the allowed values", TB_ERR_RANGE);
}

double cfg_get_number(const cfg_param_t *p, const void *obj)
{
    switch (p->type) {
    case CFG_INT:
    case CFG_ENUM: {
        int32_t i;
        memcpy(&i, cfield(p, obj), sizeof i);
        return (double)i;
    }
    case CFG_FLOAT: {
        float f;
        memcpy(&f, cfield(p, obj), sizeof f);
        return (double)f;
    }
    case CFG_BOOL: {
        bool b;
        memcpy(&b, cfield(p, obj), sizeof b);
        return b ? 1.0 : 0.0;
    }
    case CFG_STRING:
        break;
    }
    return 0.0;
}

bool cfg_get_bool(const cfg_param_t *p, const void *obj)
{
    return cfg_get_number(p, obj) > 0.5;
}

const char *cfg_get_string(const cfg_param_t *p, const void *obj)
{
    return p->type == CFG_STRING ? (const char *)cfield(p, obj) : "";
}

const char *cfg_get_enum_name(const cfg_param_t *p, const void *obj)
{
    if (p->type != CFG_ENUM) {
        return "";
    }
    int32_t i;
    memcpy(&i, cfield(p, obj), sizeof i);
    if (i < 0 || i >= p->name_count) {
        return "";
    }
    return p->names[i];
}

int cfg_validate(const cfg_section_t *sec, const void *obj, cfg_error_t *err)
{
    for (size_t i = 0; i < sec->count; i++) {
        const cfg_param_t *p = &sec->params[i];
        switch (p->type) {
        case CFG_INT:
        case CFG_FLOAT:
        case CFG_ENUM: {
            int rc = check_number(p, cfg_get_number(p, obj), err);
            if (rc != TB_OK) {
                return rc;
            }
            break;
        }
        case CFG_STRING: {
            const char *s = cfield(p, obj);
            size_t n = 0;
            while (n < p->str_size && s[n] != '\0') {
                n++;
            }
            if (n >= p->str_size) {
                return fail(err, p, "not terminated", TB_ERR_RANGE);
            }
            if ((float)n < p->min) { /* exact: n < str_size <= 255 */
                return fail(err, p, "too short", TB_ERR_RANGE);
            }
            break;
        }
        case CFG_BOOL:
            break;
        }
    }
    return TB_OK;
}

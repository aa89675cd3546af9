/* The parameter tables and the reason sentences of docs/charge-control.md are generated from the configuration schema
 * (sections charge, failsafe, alarms, energy). This test renders them and fails when the document
 * differs, so the documentation cannot drift from the code.
 *
 *   test_charge_doc            compare (ctest)
 *   test_charge_doc --print    print the generated markdown
 *   test_charge_doc --update   rewrite the generated parts of docs/charge-control.md in place
 *
 * It also renders the list of reason sentences (every limiter code, worded by app/chg_reason from
 * the example step of test_chg_reason_example.h) into its own generated section.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/chg_reason.h"
#include "core/alarms.h"
#include "core/charge.h"
#include "core/energy.h"
#include "core/failsafe.h"
#include "test_charge_util.h"
#include "test_chg_reason_example.h"

#define BEGIN_MARK "<!-- BEGIN GENERATED: parameter tables (tests/unit/test_charge_doc.c --update) -->\n"
#define REASON_BEGIN_MARK "<!-- BEGIN GENERATED: reason sentences (tests/unit/test_charge_doc.c --update) -->\n"
#define END_MARK "<!-- END GENERATED -->\n"

typedef struct {
    char *b;
    size_t len;
    size_t cap;
} sb_t;

static void sb_printf(sb_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sb_t *s, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(s->b + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        s->cap = s->cap * 2u + (size_t)n + 64u;
        s->b = realloc(s->b, s->cap);
        assert_non_null(s->b);
    }
}

static void num(char *out, size_t cap, const cfg_param_t *p, float v)
{
    if (p->type == CFG_INT) {
        snprintf(out, cap, "%ld", (long)v);
    } else {
        snprintf(out, cap, "%g", (double)v);
    }
}

static void render_section(sb_t *s, const cfg_section_t *sec, const void *defaults)
{
    sb_printf(s, "\n#### Section `%s`\n\n", sec->name);
    sb_printf(s, "| key | unit | range | default | what it does |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < sec->count; i++) {
        const cfg_param_t *p = &sec->params[i];
        char lo[32];
        char hi[32];
        char def[64];
        const char *unit = cfg_param_unit(p);
        switch (p->type) {
        case CFG_BOOL:
            snprintf(lo, sizeof lo, "%s", "");
            snprintf(def, sizeof def, "%s", cfg_get_bool(p, defaults) ? "true" : "false");
            sb_printf(s, "| `%s`%s | | true/false | %s | %s |\n", p->key, (p->flags & CFG_F_ADVANCED) ? " (adv.)" : "",
                      def, cfg_param_doc(p));
            continue;
        case CFG_ENUM: {
            char names[128] = "";
            for (uint8_t k = 0; k < p->name_count; k++) {
                strncat(names, k ? ", " : "", sizeof names - strlen(names) - 1u);
                strncat(names, p->names[k], sizeof names - strlen(names) - 1u);
            }
            sb_printf(s, "| `%s`%s | | %s | %s | %s |\n", p->key, (p->flags & CFG_F_ADVANCED) ? " (adv.)" : "", names,
                      cfg_get_enum_name(p, defaults), cfg_param_doc(p));
            continue;
        }
        case CFG_STRING:
            sb_printf(s, "| `%s` | | text | \"%s\" | %s |\n", p->key, p->def_str ? p->def_str : "", cfg_param_doc(p));
            continue;
        case CFG_INT:
        case CFG_FLOAT:
        default:
            break;
        }
        num(lo, sizeof lo, p, p->min);
        num(hi, sizeof hi, p, p->max);
        num(def, sizeof def, p, (float)cfg_get_number(p, defaults));
        sb_printf(s, "| `%s`%s | %s | %s .. %s | %s | %s |\n", p->key, (p->flags & CFG_F_ADVANCED) ? " (adv.)" : "",
                  unit, lo, hi, def, cfg_param_doc(p));
    }
}

static char *render_all(void)
{
    sb_t s = {malloc(4096), 0, 4096};
    assert_non_null(s.b);
    s.b[0] = '\0';
    chg_config_t c;
    chg_config_defaults(&c);
    alarms_config_t a;
    alarms_config_defaults(&a);
    energy_config_t e;
    energy_config_defaults(&e);
    sb_printf(&s, "%s", BEGIN_MARK);
    sb_printf(&s, "\n_Generated from the schema rows in `core/charge.c`, `core/failsafe.c`, `core/alarms.c` and "
                  "`core/energy.c`; \"(adv.)\" marks parameters the UI hides behind \"advanced\"._\n");
    render_section(&s, &chg_section, &c);
    render_section(&s, &failsafe_section, &c.failsafe);
    render_section(&s, &alarms_section, &a);
    render_section(&s, &energy_section, &e);
    sb_printf(&s, "\n%s", END_MARK);
    return s.b;
}

/* ---- the reason sentences: every limiter code, worded by app/chg_reason from an example step ---- */

enum { R_CVL, R_CCL, R_DCL, R_STATE };

typedef struct {
    chg_limiter_t lim;
    int slot;          /* R_CVL/R_CCL/R_DCL: that clause; R_STATE: the whole sentence */
    float value;       /* the limit (V or A); for R_STATE the chg_state_t */
    float cell_max_v;  /* 0: the example's */
    float cell_min_v;
    float temp_c;      /* the temperature the limiter reads (0: the example's) */
    int stopped;       /* CVL: charging stopped; R_STATE: the fail-safe mode */
    const char *when;
} reason_case_t;

static const reason_case_t reason_cases[] = {
    {CHG_LIM_CONFIG_MAX, R_CVL, 55.2f, 0, 0, 0, 0, "the configured absorption target (`cell_bulk_v`) binds"},
    {CHG_LIM_BMS_CUTOFF, R_CVL, 54.4f, 0, 0, 0, 0, "a TinyBMS setting caps the target (315 − `ov_margin_v`, or 300)"},
    {CHG_LIM_FLOAT, R_CVL, 54.0f, 0, 0, 0, 0, "float phase (during the descent: where it is)"},
    {CHG_LIM_CELL_VOLTAGE_HIGH, R_CVL, 54.8f, 3.482f, 0, 0, 0, "the cell-voltage controller holds a runner below `cell_limit_v`"},
    {CHG_LIM_RAMP, R_CVL, 53.1f, 0, 0, 0, 0, "an increase is held or ramping (`cvl_hold_s`, `cvl_rise_v_min`)"},
    {CHG_LIM_CELL_OVER_VOLTAGE, R_CVL, 54.4f, 3.652f, 0, 0, 1, "charging stopped (CCL 0), whatever the CCL limiter"},
    {CHG_LIM_CONFIG_MAX, R_CCL, 100.0f, 0, 0, 0, 0, "`ccl_max_a`"},
    {CHG_LIM_BMS_CUTOFF, R_CCL, 48.0f, 0, 0, 0, 0, "register 318 less `bms_current_margin_pct`"},
    {CHG_LIM_CELL_OVER_VOLTAGE, R_CCL, 0.0f, 3.652f, 0, 0, 0, "a cell at/above register 315"},
    {CHG_LIM_CELL_VOLTAGE_HIGH, R_CCL, 12.3f, 3.482f, 0, 0, 0, "taper by the highest cell"},
    {CHG_LIM_CELL_VOLTAGE_HIGH, R_CCL, 0.0f, 3.551f, 0, 0, 0, "stop at the taper end"},
    {CHG_LIM_CELL_VOLTAGE_HIGH, R_CCL, 0.0f, 3.52f, 0, 0, 0, "stop latched until released"},
    {CHG_LIM_BMS_FAULT, R_CCL, 0.0f, 0, 0, 0, 0, "TinyBMS status 0x9B"},
    {CHG_LIM_BMS_FAULT, R_CCL, 2.8f, 0, 2.71f, 0, 0, "under-voltage fault: `fault_recovery_c`"},
    {CHG_LIM_TEMP_LOW, R_CCL, 0.0f, 0, 0, -2.1f, 0, "at/below the charge low-temperature cut-off"},
    {CHG_LIM_TEMP_LOW, R_CCL, 0.0f, 0, 0, 0.4f, 0, "back above it, inside `temp_hyst_c`"},
    {CHG_LIM_TEMP_LOW, R_CCL, 40.0f, 0, 0, 4.5f, 0, "derated within `temp_derate_c`"},
    {CHG_LIM_TEMP_HIGH, R_CCL, 0.0f, 0, 0, 50.2f, 0, "at/above the high-temperature cut-off"},
    {CHG_LIM_TEMP_HIGH, R_CCL, 60.0f, 0, 0, 46.0f, 0, "derated within `temp_derate_c`"},
    {CHG_LIM_SOC_TAPER, R_CCL, 31.0f, 0, 0, 0, 0, "SOC above `soc_ccl_taper_pct`"},
    {CHG_LIM_IMBALANCE_HOLD, R_CCL, 14.0f, 0, 0, 0, 0, "spread ≥ `imbalance_hold_v`"},
    {CHG_LIM_RAMP, R_CCL, 5.0f, 0, 0, 0, 0, "below the target: ramping (`ccl_ramp_a_s`)"},
    {CHG_LIM_RAMP, R_CCL, 0.0f, 0, 0, 0, 0, "held after a decrease (`limit_hold_s`)"},
    {CHG_LIM_CONFIG_MAX, R_DCL, 150.0f, 0, 0, 0, 0, "`dcl_max_a`"},
    {CHG_LIM_BMS_CUTOFF, R_DCL, 80.0f, 0, 0, 0, 0, "register 317 less `bms_current_margin_pct`"},
    {CHG_LIM_CELL_UNDER_VOLTAGE, R_DCL, 0.0f, 0, 2.799f, 0, 0, "a cell at/below register 316"},
    {CHG_LIM_CELL_VOLTAGE_LOW, R_DCL, 40.0f, 0, 3.05f, 0, 0, "taper by the lowest cell"},
    {CHG_LIM_CELL_VOLTAGE_LOW, R_DCL, 0.0f, 0, 2.899f, 0, 0, "stop at the taper end"},
    {CHG_LIM_CELL_VOLTAGE_LOW, R_DCL, 0.0f, 0, 2.93f, 0, 0, "stop latched until released"},
    {CHG_LIM_TEMP_LOW, R_DCL, 0.0f, 0, 0, -20.5f, 0, "at/below `discharge_temp_min_c`"},
    {CHG_LIM_TEMP_HIGH, R_DCL, 60.0f, 0, 0, 48.0f, 0, "derated within `temp_derate_c`"},
    {CHG_LIM_SOC_TAPER, R_DCL, 90.0f, 0, 0, 0, 0, "SOC below `soc_dcl_taper_pct`"},
    {CHG_LIM_RAMP, R_DCL, 100.0f, 0, 0, 0, 0, "below the target: ramping (`dcl_ramp_a_s`)"},
    {CHG_LIM_NO_DATA, R_STATE, CHG_STATE_NO_DATA, 0, 0, 0, 0, "state `no_data`: no usable snapshot yet"},
    {CHG_LIM_STALE, R_STATE, CHG_STATE_STALE, 0, 0, 0, 0, "state `stale`: charging stopped, DCL frozen"},
    {CHG_LIM_FAILSAFE, R_STATE, CHG_STATE_FAILSAFE, 0, 0, 0, FAILSAFE_MODE_ZERO_LIMITS, "state `failsafe`, mode `zero_limits`"},
    {CHG_LIM_FAILSAFE, R_STATE, CHG_STATE_FAILSAFE, 0, 0, 0, FAILSAFE_MODE_STOP_TRANSMITTING,
     "state `failsafe`, mode `stop_transmitting`"},
};

static void reason_row(sb_t *s, const reason_case_t *c)
{
    static const char *const tags[] = {"CVL ", "CCL ", "DCL "};
    chg_limits_t l = chg_reason_example();
    l.cvl_target_v = 55.2f;
    l.ccl_target_a = c->slot == R_CCL && c->lim == CHG_LIM_RAMP ? 12.3f : l.ccl_target_a;
    l.dcl_target_a = c->slot == R_DCL && c->lim == CHG_LIM_RAMP ? 150.0f : l.dcl_target_a;
    if (c->cell_max_v > 0.0f) {
        l.cell_max_v = c->cell_max_v;
    }
    if (c->cell_min_v > 0.0f) {
        l.cell_min_v = c->cell_min_v;
    }
    if (c->temp_c != 0.0f) {
        l.temp_min_c = l.temp_max_c = c->temp_c;
    }
    if (c->lim == CHG_LIM_SOC_TAPER && c->slot == R_DCL) {
        l.soc_pct = 6.5f;
    }
    if (c->lim == CHG_LIM_BMS_CUTOFF && c->slot == R_CVL) {
        l.cell_target_v = 3.40f;
    }
    if (c->lim == CHG_LIM_FLOAT) {
        l.cell_float_v = 3.375f;
    }
    l.data_age_ms = 6200u;
    l.dcl_a = 150.0f;
    switch (c->slot) {
    case R_CVL:
        l.cvl_v = c->value;
        l.cvl_lim = c->lim;
        l.charge_stopped = c->stopped != 0;
        break;
    case R_CCL:
        l.ccl_a = c->value;
        l.ccl_lim = c->lim;
        l.charge_stopped = !(c->value > 0.0f);
        break;
    case R_DCL:
        l.dcl_a = c->value;
        l.dcl_lim = c->lim;
        l.discharge_stopped = !(c->value > 0.0f);
        break;
    default:
        l.state = (chg_state_t)c->value;
        l.cvl_lim = l.ccl_lim = l.dcl_lim = c->lim;
        l.failsafe_mode = (failsafe_mode_t)c->stopped;
        l.data_why = c->value == CHG_STATE_NO_DATA ? "no BMS data yet" : "BMS data too old";
        l.data_age_ms = c->value == CHG_STATE_FAILSAFE ? 31000u : 6200u;
        l.dcl_a = 80.0f;
        break;
    }
    char buf[CHG_REASON_LEN];
    chg_reason_format(&l, buf, sizeof buf);
    const char *text = buf;
    size_t n = strlen(buf);
    if (c->slot != R_STATE) {
        text = strstr(buf, tags[c->slot]);
        assert_non_null(text);
        n = strcspn(text, ";");
    }
    const char *limit = c->slot == R_STATE ? "all" : (const char *[]){"CVL", "CCL", "DCL"}[c->slot];
    char name[48];
    snprintf(name, sizeof name, c->slot == R_CVL && c->stopped ? "(the CCL's)" : "`%s`", chg_limiter_name(c->lim));
    sb_printf(s, "| %s | %s | %s | %.*s |\n", name, limit, c->when, (int)n, text);
}

static char *render_reasons(void)
{
    sb_t s = {malloc(4096), 0, 4096};
    assert_non_null(s.b);
    s.b[0] = '\0';
    sb_printf(&s, "%s", REASON_BEGIN_MARK);
    sb_printf(&s, "\n_Generated by `app/chg_reason.c` from an example step (16 cells, absorption, BMS cut-offs "
                  "3.65 V / 2.80 V, taper 3.40–3.55 V and 3.10–2.90 V, charging 0–50 °C, discharging −20–55 °C)._\n\n");
    sb_printf(&s, "| limiter | limit | when | the reason says |\n|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof reason_cases / sizeof reason_cases[0]; i++) {
        reason_row(&s, &reason_cases[i]);
    }
    sb_printf(&s, "\n%s", END_MARK);
    return s.b;
}

static const char *docs_file(const char *name)
{
    static char path[1024];
    const char *here = __FILE__; /* .../tests/unit/test_charge_doc.c */
    const char *cut = strstr(here, "tests/unit/test_charge_doc.c");
    size_t n = cut ? (size_t)(cut - here) : 0u;
    snprintf(path, sizeof path, "%.*sdocs/%s", (int)n, here, name);
    return path;
}

static const char *doc_path(void)
{
    return docs_file("charge-control.md");
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1u);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

static int g_update;

/* Compare (or with --update rewrite) the part of the document between `begin` and END_MARK. */
static void compare_generated(const char *begin, char *gen, const char *what)
{
    size_t len = 0;
    char *doc = read_file(doc_path(), &len);
    if (!doc) {
        print_error("cannot read %s\n", doc_path());
        free(gen);
        fail();
        return;
    }
    char *b = strstr(doc, begin);
    char *e = b ? strstr(b, END_MARK) : NULL;
    if (!b || !e) {
        print_error("%s: generated-section markers missing (%s)\n", doc_path(), what);
        free(gen);
        free(doc);
        fail();
        return;
    }
    e += strlen(END_MARK);
    size_t have = (size_t)(e - b);
    bool same = have == strlen(gen) && memcmp(b, gen, have) == 0;
    if (!same && g_update) {
        FILE *f = fopen(doc_path(), "wb");
        assert_non_null(f);
        fwrite(doc, 1, (size_t)(b - doc), f);
        fputs(gen, f);
        fputs(e, f);
        fclose(f);
        print_message("updated %s\n", doc_path());
        same = true;
    }
    if (!same) {
        print_error("docs/charge-control.md %s differ from the code; run tests/test_charge_doc --update from the "
                    "build directory\n", what);
    }
    free(gen);
    free(doc);
    assert_true(same);
}

static void doc_tables_match_schema(void **state)
{
    (void)state;
    compare_generated(BEGIN_MARK, render_all(), "parameter tables");
}

/* Every limiter code but "none" has a sentence in the list, and the list is what the code says. */
static void doc_reasons_match_code(void **state)
{
    (void)state;
    for (int i = 1; i < CHG_LIM_COUNT; i++) {
        bool found = false;
        for (size_t k = 0; k < sizeof reason_cases / sizeof reason_cases[0]; k++) {
            found = found || reason_cases[k].lim == (chg_limiter_t)i;
        }
        if (!found) {
            print_error("limiter %s has no example sentence\n", chg_limiter_name((chg_limiter_t)i));
            fail();
        }
    }
    compare_generated(REASON_BEGIN_MARK, render_reasons(), "reason sentences");
}

static void every_limiter_and_state_is_documented(void **state)
{
    (void)state;
    size_t len = 0;
    char *doc = read_file(doc_path(), &len);
    assert_non_null(doc);
    char needle[64];
    for (int i = 0; i < CHG_LIM_COUNT; i++) {
        snprintf(needle, sizeof needle, "`%s`", chg_limiter_name((chg_limiter_t)i));
        if (!strstr(doc, needle)) {
            print_error("limiter %s not documented\n", needle);
            fail();
        }
    }
    for (int i = 0; i < CHG_STATE_COUNT; i++) {
        snprintf(needle, sizeof needle, "`%s`", chg_state_name((chg_state_t)i));
        if (!strstr(doc, needle)) {
            print_error("state %s not documented\n", needle);
            fail();
        }
    }
    for (int i = 0; i < ALARM_COUNT; i++) {
        snprintf(needle, sizeof needle, "`%s`", alarms_category_name((alarm_id_t)i));
        if (!strstr(doc, needle)) {
            print_error("alarm category %s not documented\n", needle);
            fail();
        }
    }
    free(doc);
}

/* docs/api.md lists the limiter names of `limits.limiter{…}`: exactly the code's (its reason
 * example once named a "cell_voltage_taper" that never existed), and its reason example is
 * worded, not made of names. */
static void api_doc_lists_the_real_limiters(void **state)
{
    (void)state;
    size_t len = 0;
    char *doc = read_file(docs_file("api.md"), &len);
    assert_non_null(doc);
    const char *b = strstr(doc, "`limiter{cvl, ccl, dcl}`");
    assert_non_null(b);
    /* the example reason before it is the sentence people read: no internal names */
    const char *r = strstr(doc, "`reason` (");
    assert_non_null(r);
    assert_true(r < b);
    for (const char *c = r; c < b; c++) {
        if (*c == '_') {
            print_error("docs/api.md: the reason example quotes an internal name: %.40s\n", c - 20);
            fail();
        }
    }
    const char *e = strstr(b, "`target{");
    assert_non_null(e);
    bool seen[CHG_LIM_COUNT] = {false};
    const char *p = b + strlen("`limiter{cvl, ccl, dcl}`");
    while ((p = strchr(p, '`')) != NULL && p < e) {
        const char *q = strchr(p + 1, '`');
        assert_non_null(q);
        size_t n = (size_t)(q - p - 1);
        bool known = false;
        for (int i = 0; i < CHG_LIM_COUNT; i++) {
            const char *name = chg_limiter_name((chg_limiter_t)i);
            if (strlen(name) == n && strncmp(name, p + 1, n) == 0) {
                known = seen[i] = true;
            }
        }
        if (!known) {
            print_error("docs/api.md names a limiter that does not exist: %.*s\n", (int)n, p + 1);
            fail();
        }
        p = q + 1;
    }
    for (int i = 0; i < CHG_LIM_COUNT; i++) {
        if (!seen[i]) {
            print_error("docs/api.md does not list the limiter %s\n", chg_limiter_name((chg_limiter_t)i));
            fail();
        }
    }
    free(doc);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        char *gen = render_all();
        fputs(gen, stdout);
        free(gen);
        gen = render_reasons();
        fputs(gen, stdout);
        free(gen);
        return 0;
    }
    g_update = argc > 1 && strcmp(argv[1], "--update") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doc_tables_match_schema),
        cmocka_unit_test(doc_reasons_match_code),
        cmocka_unit_test(api_doc_lists_the_real_limiters),
        cmocka_unit_test(every_limiter_and_state_is_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

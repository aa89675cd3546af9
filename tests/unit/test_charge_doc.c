/* The parameter tables of docs/charge-control.md are generated from the configuration schema
 * (sections charge, failsafe, alarms, energy). This test renders them and fails when the document
 * differs, so the documentation cannot drift from the code.
 *
 *   test_charge_doc            compare (ctest)
 *   test_charge_doc --print    print the generated markdown
 *   test_charge_doc --update   rewrite the generated part of docs/charge-control.md in place
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alarms.h"
#include "core/charge.h"
#include "core/energy.h"
#include "core/failsafe.h"
#include "test_charge_util.h"

#define BEGIN_MARK "<!-- BEGIN GENERATED: parameter tables (tests/unit/test_charge_doc.c --update) -->\n"
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

static const char *doc_path(void)
{
    static char path[1024];
    const char *here = __FILE__; /* .../tests/unit/test_charge_doc.c */
    const char *cut = strstr(here, "tests/unit/test_charge_doc.c");
    size_t n = cut ? (size_t)(cut - here) : 0u;
    snprintf(path, sizeof path, "%.*sdocs/charge-control.md", (int)n, here);
    return path;
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

static void doc_tables_match_schema(void **state)
{
    (void)state;
    char *gen = render_all();
    size_t len = 0;
    char *doc = read_file(doc_path(), &len);
    if (!doc) {
        print_error("cannot read %s\n", doc_path());
        free(gen);
        fail();
        return;
    }
    char *b = strstr(doc, BEGIN_MARK);
    char *e = b ? strstr(b, END_MARK) : NULL;
    if (!b || !e) {
        print_error("%s: generated-section markers missing\n", doc_path());
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
        print_error("docs/charge-control.md parameter tables differ from the schema; run "
                    "tests/test_charge_doc --update from the build directory\n");
    }
    free(gen);
    free(doc);
    assert_true(same);
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

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        char *gen = render_all();
        fputs(gen, stdout);
        free(gen);
        return 0;
    }
    g_update = argc > 1 && strcmp(argv[1], "--update") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doc_tables_match_schema),
        cmocka_unit_test(every_limiter_and_state_is_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* app/config_file: the choice between the configuration file, its backup and the defaults, over
 * an in-memory reader. The daemon-level behaviour (log lines, GET /api/status, refusals) is in
 * tests/integration/test_fault_disk.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/config_file.h"
#include "core/tb_err.h"

#define GOOD_90 "{\"charge\": {\"ccl_max_a\": 90}}"
#define GOOD_70 "{\"charge\": {\"ccl_max_a\": 70}}"
#define SYNTAX "{\"charge\": {\"ccl_max_a\": 9"  /* cut short, as after a torn write */
#define RANGE "{\"charge\": {\"ccl_max_a\": 90000}}"

/* Two in-memory files, PATH and PATH.bak; NULL = missing; io = a read error instead. */
typedef struct {
    const char *file, *bak;
    bool file_io;
    unsigned reads;
} files_t;

static int fake_read(void *ctx, const char *path, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    files_t *f = ctx;
    f->reads++;
    bool is_bak = strstr(path, ".bak") != NULL;
    const char *text = is_bak ? f->bak : f->file;
    if (!is_bak && f->file_io) {
        snprintf(err, errlen, "cannot read %s: Input/output error", path);
        return TB_ERR_IO;
    }
    if (!text) {
        snprintf(err, errlen, "%s does not exist", path);
        return TB_ERR_NOTFOUND;
    }
    size_t n = strlen(text);
    if (n > cap) {
        snprintf(err, errlen, "%s is larger than %zu bytes", path, cap);
        return TB_ERR_TOO_LARGE;
    }
    memcpy(buf, text, n);
    *len = n;
    return TB_OK;
}

static gw_config_t g_cfg, g_scratch;
static char g_text[4096];
static cfgfile_result_t g_res;

static int load(files_t *f, unsigned flags)
{
    gw_config_defaults(&g_cfg);
    return cfgfile_load(&g_cfg, &g_scratch, "/state/config.json", flags, fake_read, f, g_text, sizeof g_text, &g_res);
}

static void the_file_when_valid(void **state)
{
    (void)state;
    files_t f = {GOOD_90, GOOD_70, false, 0};
    assert_int_equal(load(&f, 0), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_FILE);
    assert_float_equal(g_cfg.charge.ccl_max_a, 90.0, 1e-6);
    assert_string_equal(g_res.message, "");
    assert_int_equal(f.reads, 1); /* the backup is not even read */
    assert_string_equal(cfgfile_src_name(g_res.source), "file");
}

static void missing_file_starts_from_the_backup(void **state)
{
    (void)state;
    files_t f = {NULL, GOOD_70, false, 0};
    assert_int_equal(load(&f, 0), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_BACKUP);
    assert_float_equal(g_cfg.charge.ccl_max_a, 70.0, 1e-6);
    assert_non_null(strstr(g_res.message, "/state/config.json is missing"));
    assert_non_null(strstr(g_res.message, "started from /state/config.json.bak"));
    assert_string_equal(g_res.problem, "/state/config.json is missing");
    assert_false(g_res.file_exists);
    assert_true(g_res.backup_valid);
    assert_string_equal(cfgfile_src_name(g_res.source), "backup");
}

static void corrupt_file_starts_from_the_backup(void **state)
{
    (void)state;
    const char *bad[] = {SYNTAX, RANGE, "", "{\"link\": {\"no_such_key\": 1}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        files_t f = {bad[i], GOOD_70, false, 0};
        assert_int_equal(load(&f, 0), TB_OK);
        assert_int_equal(g_res.source, CFGFILE_SRC_BACKUP);
        assert_float_equal(g_cfg.charge.ccl_max_a, 70.0, 1e-6);
        assert_true(g_res.file_exists);
        assert_non_null(strstr(g_res.message, "/state/config.json: "));
        assert_true(strncmp(g_res.problem, "/state/config.json: ", 20) == 0);
        assert_non_null(strstr(g_res.message, "started from /state/config.json.bak"));
    }
    files_t f = {GOOD_90, GOOD_70, true, 0}; /* unreadable (EIO) */
    assert_int_equal(load(&f, 0), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_BACKUP);
    assert_non_null(strstr(g_res.message, "cannot read /state/config.json: Input/output error"));
}

static void nothing_valid_is_refused(void **state)
{
    (void)state;
    files_t f = {SYNTAX, RANGE, false, 0};
    assert_int_equal(load(&f, 0), TB_ERR_FORMAT);
    assert_non_null(strstr(g_res.message, "/state/config.json: JSON syntax error"));
    assert_non_null(strstr(g_res.message, "/state/config.json.bak: charge.ccl_max_a = 90000 is out of range"));
    /* the configuration is untouched: no half-applied file */
    gw_config_t d;
    gw_config_defaults(&d);
    assert_memory_equal(&g_cfg, &d, sizeof d);

    files_t g = {NULL, SYNTAX, false, 0}; /* only a broken backup */
    assert_int_equal(load(&g, 0), TB_ERR_FORMAT);
    assert_non_null(strstr(g_res.message, "/state/config.json is missing"));
    assert_non_null(strstr(g_res.message, "/state/config.json.bak: JSON syntax error"));

    files_t h = {RANGE, NULL, false, 0}; /* a broken file, no backup */
    assert_int_equal(load(&h, 0), TB_ERR_RANGE);
    assert_non_null(strstr(g_res.message, "out of range"));
    assert_non_null(strstr(g_res.message, "/state/config.json.bak is missing"));
}

static void nothing_saved_means_defaults(void **state)
{
    (void)state;
    files_t f = {NULL, NULL, false, 0};
    assert_int_equal(load(&f, 0), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_DEFAULTS);
    assert_string_equal(g_res.message, "");
    assert_int_equal(load(&f, CFGFILE_REQUIRED), TB_ERR_NOTFOUND);
    assert_string_equal(g_res.message, "/state/config.json does not exist");
    assert_int_equal(load(&f, CFGFILE_STRICT), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_DEFAULTS);
}

static void the_base_is_kept_under_the_file(void **state)
{
    (void)state;
    files_t f = {NULL, GOOD_70, false, 0};
    gw_config_defaults(&g_cfg);
    snprintf(g_cfg.gateway.http_listen, sizeof g_cfg.gateway.http_listen, "127.0.0.1:8080"); /* a demo default */
    assert_int_equal(cfgfile_load(&g_cfg, &g_scratch, "/state/config.json", 0, fake_read, &f, g_text, sizeof g_text,
                                  &g_res),
                     TB_OK);
    assert_string_equal(g_cfg.gateway.http_listen, "127.0.0.1:8080");
    assert_float_equal(g_cfg.charge.ccl_max_a, 70.0, 1e-6);
}

static void strict_never_uses_the_backup(void **state)
{
    (void)state;
    files_t f = {NULL, GOOD_70, false, 0};
    assert_int_equal(load(&f, CFGFILE_STRICT), TB_ERR_NOTFOUND);
    assert_non_null(strstr(g_res.message, "/state/config.json is missing"));
    assert_non_null(strstr(g_res.message, "a start would use the backup, which is valid"));
    gw_config_t d;
    gw_config_defaults(&d);
    assert_memory_equal(&g_cfg, &d, sizeof d);

    files_t g = {SYNTAX, SYNTAX, false, 0};
    assert_int_equal(load(&g, CFGFILE_STRICT), TB_ERR_FORMAT);
    assert_non_null(strstr(g_res.message, "the backup is not usable either: /state/config.json.bak: JSON syntax"));

    files_t h = {GOOD_90, NULL, false, 0};
    assert_int_equal(load(&h, CFGFILE_STRICT), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_FILE);
}

static void too_large_and_bad_arguments(void **state)
{
    (void)state;
    static char big[5000];
    memset(big, ' ', sizeof big - 1u);
    files_t f = {big, GOOD_70, false, 0};
    assert_int_equal(load(&f, 0), TB_OK);
    assert_int_equal(g_res.source, CFGFILE_SRC_BACKUP);
    assert_non_null(strstr(g_res.message, "is larger than 4096 bytes"));

    char path[600];
    memset(path, 'a', sizeof path - 1u);
    path[sizeof path - 1u] = '\0';
    assert_int_equal(cfgfile_load(&g_cfg, &g_scratch, path, 0, fake_read, &f, g_text, sizeof g_text, &g_res),
                     TB_ERR_ARG);
    assert_non_null(strstr(g_res.message, "longer than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_file_when_valid),
        cmocka_unit_test(missing_file_starts_from_the_backup),
        cmocka_unit_test(corrupt_file_starts_from_the_backup),
        cmocka_unit_test(nothing_valid_is_refused),
        cmocka_unit_test(nothing_saved_means_defaults),
        cmocka_unit_test(the_base_is_kept_under_the_file),
        cmocka_unit_test(strict_never_uses_the_backup),
        cmocka_unit_test(too_large_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tb_err.h"
#include "ports/linux/fileio.h"

static void atomic_save_keeps_backup(void **state)
{
    (void)state;
    char dir[] = "/tmp/tb-fileio-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], bak[300], err[256];
    snprintf(path, sizeof path, "%s/sub/config.json", dir);
    snprintf(bak, sizeof bak, "%s.bak", path);
    snprintf(err, sizeof err, "%s/sub", dir);
    assert_int_equal(file_mkdirs(err), 0);
    assert_int_equal(file_save_atomic(path, "one", 3, true, err, sizeof err), TB_OK);
    assert_int_not_equal(access(bak, F_OK), 0); /* nothing to back up the first time */
    assert_int_equal(file_save_atomic(path, "two!", 4, true, err, sizeof err), TB_OK);
    char buf[16];
    size_t n;
    assert_int_equal(file_load(path, buf, sizeof buf, &n, err, sizeof err), TB_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "two!", 4);
    assert_int_equal(file_load(bak, buf, sizeof buf, &n, err, sizeof err), TB_OK);
    assert_memory_equal(buf, "one", 3);
    assert_int_equal(file_load(path, buf, 2, &n, err, sizeof err), TB_ERR_TOO_LARGE);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    assert_int_equal(file_load(missing, buf, sizeof buf, &n, err, sizeof err), TB_ERR_NOTFOUND);
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x", dir);
    assert_int_equal(file_save_atomic(nodir, "x", 1, true, err, sizeof err), TB_ERR_IO);
    assert_non_null(strstr(err, "cannot create"));

    storage_t st;
    file_storage_t fs;
    snprintf(err, sizeof err, "%s/sub", dir);
    file_storage_init(&fs, &st, err);
    assert_int_equal(st.save(st.ctx, "energy", "abc", 3), TB_OK);
    assert_int_equal(st.load(st.ctx, "energy", buf, sizeof buf, &n), TB_OK);
    assert_int_equal(n, 3);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
}

static bool exists(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* Leftovers of interrupted saves (NAME.tmp.PID of a process that is gone, or of this one) are
 * removed; everything else, and the files of a save still running in another process, stay. */
static void orphans_removed(void **state)
{
    (void)state;
    char dir[] = "/tmp/tb-orphans-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char mine[64], live[64];
    snprintf(mine, sizeof mine, "energy.tmp.%ld", (long)getpid());
    snprintf(live, sizeof live, "web-admin.json.tmp.%ld", (long)getppid()); /* a running process */
    /* 999999999 is above any pid_max (4194304 at most): certainly not running */
    const char *gone[] = {"config.json.tmp.999999999", "config.json.bak.tmp.999999999", mine};
    const char *keep[] = {"config.json", "config.json.bak", "energy", "notes.tmp", "x.tmp.12ab", "x.tmp.", ".tmp.5",
                          live};
    for (size_t i = 0; i < 3; i++) touch(dir, gone[i]);
    for (size_t i = 0; i < 8; i++) touch(dir, keep[i]);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/dir.tmp.999999999", dir); /* not a regular file */
    assert_int_equal(mkdir(sub, 0700), 0);

    assert_int_equal(file_remove_orphans(dir, "web-admin.json"), 0); /* prefix: only that file's */
    assert_int_equal(file_remove_orphans(dir, "config.json"), 2);
    assert_int_equal(file_remove_orphans(dir, NULL), 1);
    assert_int_equal(file_remove_orphans(dir, NULL), 0);
    for (size_t i = 0; i < 3; i++) assert_false(exists(dir, gone[i]));
    for (size_t i = 0; i < 8; i++) assert_true(exists(dir, keep[i]));
    assert_true(exists(dir, "dir.tmp.999999999"));
    assert_int_equal(file_remove_orphans("/nonexistent-tb-dir", NULL), -1);

    /* the storage port reports the reason of its last failure */
    storage_t st;
    file_storage_t fs;
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/missing", dir);
    file_storage_init(&fs, &st, nodir);
    assert_non_null(st.error);
    assert_string_equal(st.error(st.ctx), "");
    assert_int_equal(st.save(st.ctx, "energy", "abc", 3), TB_ERR_IO);
    assert_non_null(strstr(st.error(st.ctx), "cannot create"));
    assert_non_null(strstr(st.error(st.ctx), "No such file or directory"));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(atomic_save_keeps_backup),
        cmocka_unit_test(orphans_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(atomic_save_keeps_backup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "app/config_file.h"

#include <stdio.h>
#include <string.h>

#include "core/tb_err.h"

#define PATH_MAX_LEN 480u

typedef struct {
    bool exists;
    bool valid;
    int rc;
    char problem[640]; /* names the file */
} attempt_t;

static void attempt(attempt_t *a, gw_config_t *scratch, const gw_config_t *base, const char *path,
                    cfgfile_read_fn read, void *ctx, char *text, size_t cap)
{
    memset(a, 0, sizeof *a);
    char err[600] = "";
    size_t len = 0;
    int rc = read(ctx, path, text, cap, &len, err, sizeof err);
    a->exists = rc != TB_ERR_NOTFOUND;
    a->rc = rc;
    if (rc == TB_ERR_NOTFOUND) {
        snprintf(a->problem, sizeof a->problem, "%s is missing", path);
        return;
    }
    if (rc != TB_OK) {
        if (err[0]) {
            snprintf(a->problem, sizeof a->problem, "%s", err);
        } else {
            snprintf(a->problem, sizeof a->problem, "%s: %s", path, tb_err_str(rc));
        }
        return;
    }
    *scratch = *base;
    cfg_diag_t d;
    rc = gw_config_apply_json(scratch, text, len, GW_CFG_ALLOW_READONLY, &d);
    if (rc != TB_OK) {
        a->rc = rc;
        snprintf(a->problem, sizeof a->problem, "%s: %s", path, d.message);
        return;
    }
    a->valid = true;
}

int cfgfile_load(gw_config_t *cfg, gw_config_t *scratch, const char *path, unsigned flags, cfgfile_read_fn read,
                 void *read_ctx, char *text, size_t cap, cfgfile_result_t *res)
{
    memset(res, 0, sizeof *res);
    res->source = CFGFILE_SRC_DEFAULTS;
    if (!cfg || !scratch || !path || !read || !text || strlen(path) > PATH_MAX_LEN) {
        snprintf(res->message, sizeof res->message, "configuration file path missing or longer than %u characters",
                 PATH_MAX_LEN);
        return TB_ERR_ARG;
    }
    char bak[PATH_MAX_LEN + 8u];
    snprintf(bak, sizeof bak, "%s.bak", path);

    attempt_t file, backup; /* 1.3 KB of stack together */
    attempt(&file, scratch, cfg, path, read, read_ctx, text, cap);
    res->file_exists = file.exists;
    if (file.valid) {
        *cfg = *scratch;
        res->source = CFGFILE_SRC_FILE;
        return TB_OK;
    }
    if (file.exists) {
        memcpy(res->problem, file.problem, sizeof res->problem);
    }
    attempt(&backup, scratch, cfg, bak, read, read_ctx, text, cap);
    res->backup_exists = backup.exists;
    res->backup_valid = backup.valid;
    if (!file.exists && !backup.exists) {
        if (flags & CFGFILE_REQUIRED) {
            snprintf(res->message, sizeof res->message, "%s does not exist", path);
            return TB_ERR_NOTFOUND;
        }
        return TB_OK; /* a first start: nothing was ever saved */
    }
    if (flags & CFGFILE_STRICT) {
        const char *then = backup.valid    ? "a start would use the backup, which is valid"
                           : backup.exists ? "the backup is not usable either: "
                                           : "there is no backup";
        snprintf(res->message, sizeof res->message, "%s (%s%s)", file.problem, then,
                 backup.exists && !backup.valid ? backup.problem : "");
        return file.exists ? file.rc : TB_ERR_NOTFOUND;
    }
    if (backup.valid) {
        memcpy(res->problem, file.problem, sizeof res->problem);
        *cfg = *scratch;
        res->source = CFGFILE_SRC_BACKUP;
        snprintf(res->message, sizeof res->message,
                 "%s; started from %s, the last good configuration (the next saved change rewrites the file; "
                 "until then every start uses the backup)",
                 file.problem, bak);
        return TB_OK;
    }
    snprintf(res->message, sizeof res->message, "%s; %s", file.problem, backup.problem);
    return file.exists ? file.rc : backup.rc;
}

const char *cfgfile_src_name(cfgfile_src_t s)
{
    switch (s) {
    case CFGFILE_SRC_FILE: return "file";
    case CFGFILE_SRC_BACKUP: return "backup";
    default: return "defaults";
    }
}

/* config_file: which saved configuration to start from — the file, its backup, or the defaults —
 * and what to tell the operator about it.
 *
 * A port keeps the configuration as PATH plus PATH.bak, the previous complete version (on Linux:
 * ports/linux/fileio.h file_save_atomic with keep_backup). A power cut, a full disk or a bad
 * hand edit can leave PATH missing or unreadable while PATH.bak is fine. The rules:
 *
 *   PATH valid                                  -> PATH                  (CFGFILE_SRC_FILE)
 *   PATH missing or invalid, PATH.bak valid     -> PATH.bak, with a warning naming what was
 *                                                  wrong with PATH        (CFGFILE_SRC_BACKUP)
 *   neither exists                              -> the defaults          (CFGFILE_SRC_DEFAULTS),
 *                                                  or TB_ERR_NOTFOUND with CFGFILE_REQUIRED
 *   neither valid, at least one exists          -> refused: the message names both problems
 *
 * "Valid" means readable, within the size the caller allows, and accepted by
 * gw_config_apply_json() on top of the caller's base configuration (the defaults, plus demo
 * defaults): the same test the daemon always applied to PATH. A saved configuration is never
 * silently replaced by the defaults. For the battery, a refusal is the safe outcome: a gateway
 * that does not start sends nothing, and the GX treats a silent BMS as lost and stops charging.
 *
 * CFGFILE_STRICT (a SIGHUP reload, --check-config): PATH only. PATH missing while PATH.bak exists,
 * or PATH invalid, is refused; the message says whether PATH.bak would be used at a start.
 *
 * Pure logic over a reader callback: no OS calls, no allocation besides what
 * gw_config_apply_json() does; about 1.3 KB of stack. Reentrant as long as callers do not share
 * the scratch and text buffers. */
#ifndef APP_CONFIG_FILE_H
#define APP_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "app/config.h"

typedef enum { CFGFILE_SRC_DEFAULTS = 0, CFGFILE_SRC_FILE, CFGFILE_SRC_BACKUP } cfgfile_src_t;

/* Reads the whole file at path into buf (at most cap bytes), sets *len. Returns TB_OK,
 * TB_ERR_NOTFOUND (does not exist), TB_ERR_TOO_LARGE or TB_ERR_IO, and on error writes a
 * sentence naming the file and the reason into err ("cannot open /x: Permission denied"). */
typedef int (*cfgfile_read_fn)(void *ctx, const char *path, char *buf, size_t cap, size_t *len, char *err,
                               size_t errlen);

enum {
    CFGFILE_REQUIRED = 1u << 0, /* the operator named PATH (--config): neither file existing is an error */
    CFGFILE_STRICT = 1u << 1    /* PATH only; never start from PATH.bak */
};

#define CFGFILE_MSG_MAX 1400u

typedef struct {
    cfgfile_src_t source;
    bool file_exists;
    bool backup_exists;
    bool backup_valid;
    /* source == CFGFILE_SRC_BACKUP: one sentence for the log and GET /api/status
     * ("PATH: <problem>; started from PATH.bak, the last good configuration ...").
     * On a refusal: why, naming both files. Otherwise "". */
    char message[CFGFILE_MSG_MAX];
    /* the problem with PATH alone ("PATH is missing", "PATH: JSON syntax error near line 3"), ""
     * if PATH was used or nothing was saved: for a log line of limited length */
    char problem[640];
} cfgfile_result_t;

/* cfg: in, the base (defaults, demo defaults); out, on TB_OK, the base with the chosen file
 * applied (unchanged for CFGFILE_SRC_DEFAULTS). On error cfg is unchanged.
 * scratch: caller's gw_config_t for trying a file. text/cap: caller's buffer for the file
 * contents (files longer than cap are refused as too large). path: at most 480 characters.
 * Returns TB_OK, or TB_ERR_NOTFOUND (REQUIRED and neither exists), TB_ERR_FORMAT / TB_ERR_RANGE /
 * TB_ERR_IO / TB_ERR_TOO_LARGE (the problem with PATH) with res->message set. */
int cfgfile_load(gw_config_t *cfg, gw_config_t *scratch, const char *path, unsigned flags, cfgfile_read_fn read,
                 void *read_ctx, char *text, size_t cap, cfgfile_result_t *res);

/* "defaults", "file", "backup" */
const char *cfgfile_src_name(cfgfile_src_t s);

#endif

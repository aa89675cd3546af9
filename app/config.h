/* config: the gateway's whole configuration — one struct made of the sections each module owns
 * (core/cfg_schema.h rows) — and its JSON form.
 *
 * File format: JSON with optional line (//) and block comments (so that --print-default-config can document
 * every key in place). Keys nest by their dotted names: "link.live_period_ms" is
 * {"link": {"live_period_ms": 100}}. Loading starts from the defaults and applies the keys that
 * are present; every key is checked against the schema, and the first problem is reported with
 * the key, the value and the allowed range, e.g.
 *     link.live_period_ms = 20 is out of range: allowed 50..10000 ms
 * Nothing is applied unless the whole document is valid (the caller passes a copy).
 *
 * Secrets (CFG_F_SECRET) are written to the configuration file but never appear in API output,
 * logs or backups; in API input an empty string for a secret means "unchanged".
 */
#ifndef APP_CONFIG_H
#define APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "app/api_cfg.h"
#include "app/can_sched.h"
#include "app/log.h"
#include "app/mqtt_cfg.h"
#include "app/wifi_prov.h"
#include "core/alarms.h"
#include "core/cfg_schema.h"
#include "core/charge.h"
#include "core/energy.h"
#include "core/tb_poll.h"

/* The daemon's own settings (section "gateway"). */
typedef struct {
    char serial_device[128];
    char http_listen[64];
    char state_dir[200];
    int32_t log_level;       /* index into log level names */
    char device_id[40];
} gw_main_cfg_t;

typedef struct {
    gw_main_cfg_t gateway;
    tb_poll_cfg_t link;
    chg_config_t charge;     /* includes charge.failsafe, the stale-data policy (section "failsafe") */
    alarms_config_t alarms;
    energy_config_t energy;
    can_sched_cfg_t can;
    mqtt_cfg_t mqtt;
    wifi_prov_cfg_t wifi;    /* the firmware's Wi-Fi (section "wifi"); the Linux daemon ignores it */

    api_web_cfg_t web;
} gw_config_t;

/* One section of gw_config_t. */
typedef struct {
    const cfg_section_t *sec;
    size_t offset; /* offsetof(gw_config_t, member) */
} gw_config_section_t;

extern const gw_config_section_t gw_config_sections[];
extern const size_t gw_config_section_count;

typedef struct {
    char key[96];
    char message[320];
    int line; /* line in the file for syntax errors, else 0 */
} cfg_diag_t;

void gw_config_defaults(gw_config_t *cfg);

/* Find a parameter by full key; *obj receives the address of its section struct inside cfg. */
const cfg_param_t *gw_config_find(const gw_config_t *cfg, const char *key, const void **obj);

enum {
    GW_CFG_APPLY_PARTIAL = 1u << 0, /* API update: only the keys present change (always the case) */
    GW_CFG_SECRETS_KEEP_EMPTY = 1u << 1, /* "" for a secret leaves it unchanged (API input) */
    GW_CFG_ALLOW_READONLY = 1u << 2 /* loading from file may set read-only keys */
};

/* Apply a JSON document (comments allowed) onto cfg. On error returns TB_ERR_FORMAT (syntax,
 * unknown key, wrong type) or TB_ERR_RANGE, fills diag, and cfg may be partly modified: callers
 * apply onto a copy and keep it only on TB_OK. Cross-key rules are checked too. */
int gw_config_apply_json(gw_config_t *cfg, const char *text, size_t len, unsigned flags, cfg_diag_t *diag);

/* Whole-config checks that span keys (e.g. backoff_min <= backoff_max). */
int gw_config_check(const gw_config_t *cfg, cfg_diag_t *diag);

enum {
    GW_CFG_OUT_SECRETS = 1u << 0,  /* include secrets (configuration file only) */
    GW_CFG_OUT_COMMENTS = 1u << 1, /* document every key in a comment above it */
    GW_CFG_OUT_PRETTY = 1u << 2    /* one key per line, indented */
};

/* Render the configuration. Returns the length (NUL-terminated) or TB_ERR_NOSPACE. Secrets
 * without GW_CFG_OUT_SECRETS are omitted entirely (not even masked), so a backup made from
 * the API output can never leak one. */
int gw_config_to_json(const gw_config_t *cfg, char *buf, size_t cap, unsigned flags);

/* The schema as JSON (for the UI's generated form): [{key, type, unit, min, max, default, flags,
 * values, doc}]. */
int gw_config_schema_json(char *buf, size_t cap);

/* Log every non-secret key that differs between a and b at info level ("config: x = 1 -> 2"). */
void gw_config_log_changes(const gw_config_t *a, const gw_config_t *b);

/* Replace comments with spaces (keeping newlines and offsets) so cJSON can parse the text and
 * error positions still map to lines. In place; strings are respected. */
void gw_config_strip_comments(char *text, size_t len);

#endif

/* Test helper for test_fault_disk.py: one configuration change through the gateway's real path
 * (gateway_command -> gw_config_apply_json -> the save_config port -> file_save_atomic, as the
 * daemon wires it), against a configuration file on a file system that may be full.
 *
 *   fault_save CONFIG_PATH JSON_CHANGE
 *
 * Loads CONFIG_PATH onto the defaults, starts a gateway_t (no BMS, no CAN), submits JSON_CHANGE
 * as GW_CMD_CONFIG_UPDATE and prints one JSON line: rc, status, message, and the running
 * charge.ccl_max_a and config_version afterwards (what the gateway applied). SIGXFSZ is ignored
 * so that a file-size limit (prlimit --fsize) makes write() fail with EFBIG, like a full disk. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app/config.h"
#include "app/gateway.h"
#include "app/log.h"
#include "core/jw.h"
#include "ports/linux/fileio.h"

static char g_text[256 * 1024];
static gateway_t g_gw;
static gw_cmd_t g_cmd;
static const char *g_path;

static int save_config(void *ctx, const gw_config_t *cfg, char *err, size_t cap)
{
    (void)ctx;
    int n = gw_config_to_json(cfg, g_text, sizeof g_text, GW_CFG_OUT_SECRETS | GW_CFG_OUT_PRETTY);
    if (n < 0) {
        snprintf(err, cap, "configuration too large");
        return n;
    }
    return file_save_atomic(g_path, g_text, (size_t)n, true, err, cap);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fault_save CONFIG_PATH JSON_CHANGE\n");
        return 2;
    }
    signal(SIGXFSZ, SIG_IGN);
    log_set_level(LOG_ERROR);
    g_path = argv[1];
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    size_t len = 0;
    char err[600];
    if (file_load(g_path, g_text, sizeof g_text - 1u, &len, err, sizeof err) != TB_OK) {
        fprintf(stderr, "fault_save: %s\n", err);
        return 1;
    }
    cfg_diag_t d;
    if (gw_config_apply_json(&cfg, g_text, len, GW_CFG_ALLOW_READONLY, &d) != TB_OK) {
        fprintf(stderr, "fault_save: %s: %s\n", g_path, d.message);
        return 1;
    }
    gw_ports_t ports;
    memset(&ports, 0, sizeof ports);
    ports.save_config = save_config;
    gateway_init(&g_gw, &cfg, &ports, 1000);
    g_cmd.type = GW_CMD_CONFIG_UPDATE;
    snprintf(g_cmd.source, sizeof g_cmd.source, "test");
    snprintf(g_cmd.text, sizeof g_cmd.text, "%s", argv[2]);
    if (!gateway_command(&g_gw, &g_cmd, 1100)) {
        fprintf(stderr, "fault_save: a configuration change did not finish at once\n");
        return 1;
    }
    char out[2048];
    jw_t w;
    jw_init(&w, out, sizeof out);
    jw_obj_begin(&w);
    jw_kv_int(&w, "rc", g_cmd.rc);
    jw_kv_int(&w, "status", g_cmd.status);
    jw_kv_str(&w, "message", g_cmd.message);
    jw_kv_float(&w, "ccl_max_a", g_gw.cfg.charge.ccl_max_a, 1);
    jw_kv_uint(&w, "config_version", g_gw.config_version);
    jw_obj_end(&w);
    if (jw_finish(&w) < 0) {
        return 1;
    }
    puts(out);
    return 0;
}

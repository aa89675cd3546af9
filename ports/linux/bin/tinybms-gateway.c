/* tinybms-gateway: the daemon. One owner thread runs the event loop over the TinyBMS UART, the CAN
 * port, the command queue and signals, and drives app/gateway (poll -> limits -> alarms -> CAN ->
 * view). The web and MQTT services run in their own threads and only read published views and
 * send commands. See docs/architecture.md and docs/operations.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/config_file.h"
#include "app/gateway.h"
#include "app/log.h"
#include "core/jw.h"
#include "ports/linux/can_port.h"
#include "ports/linux/clock.h"
#include "ports/linux/cmdq.h"
#include "ports/linux/daemon.h"
#include "ports/linux/demo.h"
#include "ports/linux/fileio.h"
#include "ports/linux/history_store.h"
#include "ports/linux/serial.h"
#include "ports/linux/services.h"
#include "ports/linux/view_store.h"

#define CONFIG_MAX (256u * 1024u)
#define DEMO_STATE_DIR "state/demo"
#define SERIAL_RETRY_MS 1000u
#define STATUS_EVERY_MS 5000u
#define RESTART_DELAY_MS 500u /* lets the HTTP reply to POST /api/system/restart leave first */

typedef struct {
    const char *config_path;
    bool demo;
    bool print_default;
    bool check_only;
    const char *serial, *can, *http, *state_dir, *log_level;
} opts_t;

/* Everything the owner thread owns. Static: gateway_t is large. */
static struct {
    opts_t o;
    char config_path[512];
    gw_config_t cfg;
    gateway_t gw;
    view_store_t views;
    cmdq_t cmdq;
    can_port_t can;
    bool can_open;
    bool can_up;               /* last CAN port state logged */
    uint64_t can_tx_errors;    /* send errors already reported */
    bool can_failing;          /* a send error was reported and no send worked since */
    file_storage_t fs;
    storage_t storage;
    int serial_fd;
    uint32_t serial_retry_at;
    bool serial_error_logged;
    demo_t demo;
    int sfd;
    bool journal;
    pthread_mutex_t log_mu;
    services_t services;
    history_store_t history;
} G = {.serial_fd = -1, .sfd = -1};

/* ---- logging to stderr (journald understands the <N> priority prefix) ------------------------ */

/* The line is formatted here and written with one fwrite: fprintf to the unbuffered stderr formats
 * through an 8 kB buffer on the calling thread's stack, and the stacks of WebSocket writers that
 * logged (a client dropped) kept those pages resident, also while glibc caches the stack for the
 * next thread (issue 16; docs/performance.md "Memory under WebSocket load"). */
static void log_write(void *ctx, const log_entry_t *e)
{
    (void)ctx;
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    static const int prio[] = {3, 4, 6, 7};
    char line[LOG_MSG_MAX + 64u];
    int n;
    if (G.journal) {
        n = snprintf(line, sizeof line, "<%d>%s: %s\n", prio[e->level], e->module, e->msg);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        localtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %-5s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, names[e->level], e->module, e->msg);
    }
    if (n <= 0) {
        return;
    }
    size_t len = (size_t)n;
    if (len >= sizeof line) { /* cut: still one line */
        len = sizeof line - 1u;
        line[len - 1u] = '\n';
    }
    (void)fwrite(line, 1, len, stderr);
}

static uint32_t log_now(void *ctx)
{
    (void)ctx;
    return linux_now_ms();
}

static uint64_t wall_now(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_lock(void *ctx) { (void)ctx; pthread_mutex_lock(&G.log_mu); }
static void log_unlock(void *ctx) { (void)ctx; pthread_mutex_unlock(&G.log_mu); }

/* ---- options --------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("Usage: tinybms-gateway [options]\n"
          "\n"
          "Reads a TinyBMS over its UART, decides the charge limits and sends them to a Victron GX as a\n"
          "CAN-bus BMS; serves the web UI, REST/WebSocket API, MQTT and metrics.\n"
          "\n"
          "  --config FILE           configuration file (JSON with comments); default STATE_DIR/config.json\n"
          "                          if it exists. Changes made through the API are saved to it. If it\n"
          "                          is missing or unreadable, FILE.bak (the previous version) is used,\n"
          "                          with an error in the log and GET /api/status; if neither is valid,\n"
          "                          the gateway does not start.\n"
          "  --demo                  run on the built-in battery simulator (a household day at 30x speed, a\n"
          "                          simulated inverter and GX): no hardware, no root; CAN frames go to a\n"
          "                          candump log in the state directory, web UI on 127.0.0.1:8080\n"
          "  --serial PATH           TinyBMS serial device (overrides gateway.serial)\n"
          "  --can SPEC              socketcan:IFACE | slcan:PATH | log:PATH[@SIZE] (overrides can.port; a log\n"
          "                          is renamed to PATH.1 past SIZE bytes, default 8M)\n"
          "  --http ADDR:PORT        web UI and API address (overrides gateway.http)\n"
          "  --state-dir DIR         persistent state (overrides gateway.state_dir)\n"
          "  --log-level LEVEL       error | warn | info | debug (overrides gateway.log_level)\n"
          "  --print-default-config  print a complete default configuration, documented, and exit\n"
          "  --check-config          validate the configuration (and overrides) and exit\n"
          "  -h, --help              this help\n"
          "      --version           program version\n"
          "\n"
          "Signals: SIGTERM/SIGINT stop cleanly (energy counters saved, CAN stops); SIGHUP reloads the\n"
          "configuration file. Under systemd: Type=notify with WatchdogSec (see tinybms-gateway.service).\n",
          f);
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "--config") == 0) target = &o->config_path;
        else if (strcmp(a, "--serial") == 0) target = &o->serial;
        else if (strcmp(a, "--can") == 0) target = &o->can;
        else if (strcmp(a, "--http") == 0) target = &o->http;
        else if (strcmp(a, "--state-dir") == 0) target = &o->state_dir;
        else if (strcmp(a, "--log-level") == 0) target = &o->log_level;
        else if (strcmp(a, "--demo") == 0) { o->demo = true; continue; }
        else if (strcmp(a, "--print-default-config") == 0) { o->print_default = true; continue; }
        else if (strcmp(a, "--check-config") == 0) { o->check_only = true; continue; }
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return -1; }
        else if (strcmp(a, "--version") == 0) { printf("tinybms-gateway %s\n", TB_VERSION); return -1; }
        else {
            fprintf(stderr, "tinybms-gateway: unknown option '%s' (try --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "tinybms-gateway: option %s needs a value\n", a);
            return 2;
        }
        *target = argv[++i];
    }
    return 0;
}

/* ---- configuration --------------------------------------------------------------------------- */

static char g_text[CONFIG_MAX];

/* Overrides from the command line go through the same validation as the file. */
static int apply_overrides(gw_config_t *cfg, const opts_t *o, cfg_diag_t *d)
{
    char buf[2048];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    if (o->serial) jw_kv_str(&w, "gateway.serial", o->serial);
    if (o->http) jw_kv_str(&w, "gateway.http", o->http);
    if (o->state_dir) jw_kv_str(&w, "gateway.state_dir", o->state_dir);
    if (o->log_level) jw_kv_str(&w, "gateway.log_level", o->log_level);
    if (o->can) jw_kv_str(&w, "can.port", o->can);
    jw_obj_end(&w);
    int n = jw_finish(&w);
    if (n < 0) {
        snprintf(d->message, sizeof d->message, "command-line values too long");
        return TB_ERR_RANGE;
    }
    return gw_config_apply_json(cfg, buf, (size_t)n, GW_CFG_ALLOW_READONLY, d);
}

static int read_file(void *ctx, const char *path, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    (void)ctx;
    return file_load(path, buf, cap, len, err, errlen);
}

static gw_config_t g_scratch;

/* Defaults < demo defaults < configuration file < command line, then the whole-config checks.
 * Used at start-up and for SIGHUP, so a reload sees exactly what a restart would. The file is
 * chosen by app/config_file: the file, else its backup (loudly), else the defaults when nothing
 * was ever saved; flags CFGFILE_STRICT for a reload and --check-config (the file only). On error
 * returns 2 with the reason in msg. */
static int load_config(const opts_t *o, gw_config_t *cfg, unsigned flags, cfgfile_result_t *res, char *msg, size_t cap)
{
    gw_config_defaults(cfg);
    cfg_diag_t d;
    if (o->demo) {
        /* demo defaults, which the command line (and a --config file) may still override */
        const char *demo = "{\"gateway\":{\"http\":\"127.0.0.1:8080\",\"state_dir\":\"" DEMO_STATE_DIR
                           "\",\"serial\":\"(simulator)\"},\"can\":{\"port\":\"log:" DEMO_STATE_DIR "/can.log\"}}";
        if (gw_config_apply_json(cfg, demo, strlen(demo), GW_CFG_ALLOW_READONLY, &d) != TB_OK) {
            snprintf(msg, cap, "internal error in the demo configuration: %s", d.message);
            return 2;
        }
    }
    if (G.config_path[0] == '\0') {
        /* the state directory may come from the command line before the file is found */
        const char *state_dir = o->state_dir ? o->state_dir : cfg->gateway.state_dir;
        if (o->config_path) {
            snprintf(G.config_path, sizeof G.config_path, "%s", o->config_path);
        } else {
            snprintf(G.config_path, sizeof G.config_path, "%s/config.json", state_dir);
        }
    }
    if (o->config_path) {
        flags |= CFGFILE_REQUIRED;
    }
    if (cfgfile_load(cfg, &g_scratch, G.config_path, flags, read_file, NULL, g_text, sizeof g_text - 1u, res) != TB_OK) {
        snprintf(msg, cap, "%s", res->message);
        return 2;
    }
    if (apply_overrides(cfg, o, &d) != TB_OK) {
        snprintf(msg, cap, "command line: %s", d.message);
        return 2;
    }
    if (o->demo && !o->can) {
        /* the demo never touches a real bus unless asked to on the command line */
        char port[sizeof cfg->gateway.state_dir + 16];
        snprintf(port, sizeof port, "log:%s/can.log", cfg->gateway.state_dir);
        if (strlen(port) >= sizeof cfg->can.port) {
            snprintf(msg, cap, "the state directory path is too long for the demo CAN log; give --can log:PATH");
            return 2;
        }
        memcpy(cfg->can.port, port, strlen(port) + 1u);
    }
    if (gw_config_check(cfg, &d) != TB_OK) {
        snprintf(msg, cap, "configuration: %s", d.message);
        return 2;
    }
    return 0;
}

static int save_config(void *ctx, const gw_config_t *cfg, char *err, size_t cap)
{
    (void)ctx;
    int n = gw_config_to_json(cfg, g_text, sizeof g_text, GW_CFG_OUT_SECRETS | GW_CFG_OUT_PRETTY);
    if (n < 0) {
        snprintf(err, cap, "configuration too large");
        return n;
    }
    /* Running from the backup: the file is missing or unreadable, and must not become the backup;
     * the backup stays the last good version until this save has worked. */
    bool keep_backup = strcmp(G.gw.config_source, "backup") != 0;
    return file_save_atomic(G.config_path, g_text, (size_t)n, keep_backup, err, cap);
}

/* ---- ports ------------------------------------------------------------------------------------ */

static bool can_status(void *ctx, char *err, size_t cap)
{
    (void)ctx;
    snprintf(err, cap, "%s", G.can_open ? can_port_error(&G.can) : "not open");
    return G.can_open && can_port_is_open(&G.can);
}

/* Read by the owner when it publishes a view; G.services is zero (http NULL) until the services
 * start, which is reported as "not started". */
static void web_status(void *ctx, gw_web_status_t *out)
{
    (void)ctx;
    if (G.services.svc.views == NULL) {
        memset(out, 0, sizeof *out);
        snprintf(out->error, sizeof out->error, "not started yet");
        return;
    }
    services_web_status(&G.services, out);
}

static void serial_try_open(uint32_t now)
{
    if (G.o.demo || G.serial_fd >= 0 || (int32_t)(now - G.serial_retry_at) < 0) {
        return;
    }
    char err[256];
    G.serial_fd = serial_open(G.cfg.gateway.serial_device, err, sizeof err);
    if (G.serial_fd < 0) {
        if (!G.serial_error_logged) {
            LOGE("serial", "%s (retrying every %u s)", err, SERIAL_RETRY_MS / 1000u);
            G.serial_error_logged = true;
        }
        G.serial_retry_at = now + SERIAL_RETRY_MS;
        return;
    }
    LOGI("serial", "TinyBMS port %s open (115200 8N1)", G.cfg.gateway.serial_device);
    G.serial_error_logged = false;
}

static void serial_lost(uint32_t now, const char *why)
{
    LOGW("serial", "%s: %s; reopening", G.cfg.gateway.serial_device, why);
    close(G.serial_fd);
    G.serial_fd = -1;
    G.serial_retry_at = now + SERIAL_RETRY_MS;
}

static void uart_send(const uint8_t *b, size_t n, uint32_t now)
{
    if (G.o.demo) {
        demo_uart_rx(&G.demo, b, n, now);
        return;
    }
    if (G.serial_fd < 0) {
        return; /* the poller times out and backs off; reopening happens in the loop */
    }
    if (serial_write_all(G.serial_fd, b, n, 200) != 0) {
        serial_lost(now, strerror(errno));
    }
}

/* The CAN back-end recovers by itself (can_port_service reopens with backoff); say so in the log,
 * once per change, and report failing sends (rate-limited per call site by app/log). */
static void can_watch(void)
{
    bool up = can_port_is_open(&G.can);
    if (up != G.can_up) {
        if (up) {
            LOGI("can", "CAN port %s open again (%llu reopens)", G.cfg.can.port,
                 (unsigned long long)can_port_stats(&G.can)->reopens);
        } else {
            LOGW("can", "CAN port lost: %s; reopening (backoff %u ms doubling to %u ms)", can_port_error(&G.can),
                 CAN_PORT_BACKOFF_MIN_MS, CAN_PORT_BACKOFF_MAX_MS);
        }
        G.can_up = up;
    }
    uint64_t e = can_port_stats(&G.can)->tx_errors;
    if (e != G.can_tx_errors && up) {
        LOGW("can", "cannot send: %s (%llu send errors so far)", can_port_error(&G.can), (unsigned long long)e);
        G.can_failing = true;
    } else if (G.can_failing && up && !can_port_send_failing(&G.can)) {
        LOGI("can", "CAN port %s sends again (%llu send errors in all)", G.cfg.can.port, (unsigned long long)e);
        G.can_failing = false;
    }
    G.can_tx_errors = e;
}

/* ---- commands, signals ----------------------------------------------------------------------- */

static void run_commands(uint32_t now)
{
    gw_cmd_t *c;
    while ((c = cmdq_take(&G.cmdq)) != NULL) {
        if (gateway_command(&G.gw, c, now)) {
            cmdq_complete(&G.cmdq, c);
        }
    }
    while ((c = gateway_command_poll(&G.gw, now)) != NULL) {
        cmdq_complete(&G.cmdq, c);
    }
}

static gw_config_t g_reload_cfg;

/* SIGHUP: the configuration is built exactly as at start-up (file and command-line overrides); a
 * file that does not validate changes nothing. */
static void reload_config(uint32_t now)
{
    static char msg[CFGFILE_MSG_MAX + 64u];
    static cfgfile_result_t res;
    if (load_config(&G.o, &g_reload_cfg, CFGFILE_STRICT, &res, msg, sizeof msg) != 0) {
        LOGE("config", "SIGHUP: reload refused: %s; configuration unchanged", msg);
        return;
    }
    gateway_reconfigure(&G.gw, &g_reload_cfg, now);
    gateway_set_config_origin(&G.gw, cfgfile_src_name(res.source), "");
    LOGI("config", "SIGHUP: reloaded %s", res.source == CFGFILE_SRC_FILE ? G.config_path : "the defaults");
}

static int setup_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* blocked in every thread (service threads inherit the mask); delivered through signalfd */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        return -1;
    }
    G.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return G.sfd < 0 ? -1 : 0;
}

static void notify_status(uint32_t now)
{
    const gw_view_t *v = gateway_view(&G.gw);
    char st[512];
    int n;
    if (v->snap.live.valid) {
        n = snprintf(st, sizeof st, "STATUS=BMS %s, SOC %.1f %%, %s, CVL %.2f V CCL %.1f A DCL %.1f A, GX %s",
                 v->link.link_up ? "link up" : "link DOWN", (double)v->snap.live.soc_pct, chg_state_name(v->limits.state),
                 (double)v->limits.cvl_v, (double)v->limits.ccl_a, (double)v->limits.dcl_a,
                 v->gx_present ? "present" : "not seen");
    } else {
        n = snprintf(st, sizeof st, "STATUS=waiting for the TinyBMS (%s)", v->link.link_up ? "link up" : "no answer yet");
    }
    /* the web down is what an operator must see in `systemctl status` when the UI does not answer */
    const gw_web_status_t *w = &v->web;
    if (w->known && w->enabled && !w->listening && n > 0 && (size_t)n < sizeof st) {
        snprintf(st + n, sizeof st - (size_t)n, "; web UI DOWN on %s: %s%s", G.cfg.gateway.http_listen, w->error,
                 w->retrying ? " (retrying)" : "");
    }
    sd_notify(0, st);
    (void)now;
}

/* ---- main ------------------------------------------------------------------------------------- */

/* POST /api/system/restart: after the same clean stop as SIGTERM, the process replaces itself
 * with a fresh copy (same PID, same arguments). Under systemd it announces RELOADING=1 instead of
 * STOPPING=1, and the new image sends READY=1 again, so Type=notify units simply see a reload.
 * If exec fails, exit with 75 (EX_TEMPFAIL) so that Restart=on-failure starts it again. */
static int restart_self(char **argv)
{
    sd_notify(0, "RELOADING=1\nSTATUS=restarting");
    LOGI("gateway", "restarting");
    /* exec the binary by its own path, not "/proc/self/exe": the kernel names the process after
     * the file it runs, and "exe" is not what pgrep, pidof, top or ps -C look for. A binary
     * replaced by an upgrade reads "PATH (deleted)": the new one at PATH is what should start. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1u);
    if (n > 0) {
        exe[n] = '\0';
        static const char del[] = " (deleted)";
        size_t len = (size_t)n;
        if (len > sizeof del - 1u && strcmp(exe + len - (sizeof del - 1u), del) == 0) {
            exe[len - (sizeof del - 1u)] = '\0';
        }
        execv(exe, argv);
        LOGW("gateway", "restart: exec %s: %s; trying /proc/self/exe", exe, strerror(errno));
    }
    execv("/proc/self/exe", argv);
    LOGE("gateway", "restart failed: exec: %s; exiting with status 75 for the service manager", strerror(errno));
    return 75;
}

/* glibc gives each thread that allocates its own malloc arena, up to 8 per core, and memory freed
 * in an arena stays there for that arena's next use. The web server runs web.http_threads +
 * web.ws_max_clients threads plus a writer per WebSocket client, and with 200 clients the 16
 * arenas of a 2-core machine each kept their own high-water mark of transient response buffers:
 * RSS crept up for minutes (issue 16; docs/performance.md "Memory under WebSocket load"). Two
 * arenas hold the same load flat; the hot paths allocate nothing, so the lock is not contended.
 * MALLOC_ARENA_MAX or GLIBC_TUNABLES in the environment still decide if set. Before any thread. */
static void limit_malloc_arenas(void)
{
    if (!getenv("MALLOC_ARENA_MAX") && !getenv("GLIBC_TUNABLES")) {
        (void)mallopt(M_ARENA_MAX, 2);
    }
}

int main(int argc, char **argv)
{
    limit_malloc_arenas();
    int prc = parse_args(argc, argv, &G.o);
    if (prc != 0) {
        return prc < 0 ? 0 : prc;
    }
    if (G.o.print_default) {
        gw_config_t d;
        gw_config_defaults(&d);
        int n = gw_config_to_json(&d, g_text, sizeof g_text, GW_CFG_OUT_COMMENTS | GW_CFG_OUT_SECRETS);
        if (n < 0) {
            return 1;
        }
        fputs(g_text, stdout);
        return 0;
    }
    static char msg[CFGFILE_MSG_MAX + 64u];
    static cfgfile_result_t cres;
    int rc = load_config(&G.o, &G.cfg, G.o.check_only ? CFGFILE_STRICT : 0u, &cres, msg, sizeof msg);
    if (rc != 0) {
        fprintf(stderr, "tinybms-gateway: %s\ntinybms-gateway: not started: fix the configuration above\n", msg);
        if (!G.o.check_only && (cres.file_exists || cres.backup_exists) && !cres.backup_valid) {
            fprintf(stderr, "tinybms-gateway: (a saved configuration exists, so the built-in defaults are not used in "
                            "its place; to start on them, move %s%s%s%s aside)\n",
                    cres.file_exists ? G.config_path : "", cres.file_exists && cres.backup_exists ? " and " : "",
                    cres.backup_exists ? G.config_path : "", cres.backup_exists ? ".bak" : "");
        }
        return rc;
    }
    if (G.o.check_only) {
        if (cres.source == CFGFILE_SRC_DEFAULTS) {
            printf("configuration OK: %s does not exist, so the built-in defaults%s would be used (a change saved "
                   "through the web UI or API creates the file)\n",
                   G.config_path, G.o.serial || G.o.can || G.o.http || G.o.state_dir || G.o.log_level || G.o.demo
                                      ? " with the command-line options" : "");
        } else {
            printf("configuration OK (%s)\n", G.config_path);
        }
        return 0;
    }

    G.journal = getenv("JOURNAL_STREAM") != NULL;
    pthread_mutex_init(&G.log_mu, NULL);
    log_port_t lp = {log_write, log_now, wall_now, log_lock, log_unlock, NULL};
    log_set_port(&lp);
    log_set_level((log_level_t)G.cfg.gateway.log_level);
    if (setup_signals() != 0) {
        LOGE("gateway", "cannot set up signal handling: %s", strerror(errno));
        return 1;
    }
    if (file_mkdirs(G.cfg.gateway.state_dir) != 0) {
        LOGE("gateway", "cannot create the state directory %s: %s", G.cfg.gateway.state_dir, strerror(errno));
        return 1;
    }
    if (cres.source == CFGFILE_SRC_BACKUP) {
        /* two lines: each fits the log's line length with long paths */
        LOGE("config", "%s", cres.problem);
        LOGE("config", "started from %s.bak, the last good configuration (until a change is saved)", G.config_path);
    }
    /* temporary files of saves that a power cut or kill interrupted: in the state directory, and
     * the configuration file's own ones where it lives elsewhere */
    if (file_remove_orphans(G.cfg.gateway.state_dir, NULL) < 0) {
        LOGW("storage", "cannot look for leftovers of interrupted saves in %s: %s", G.cfg.gateway.state_dir,
             strerror(errno));
    }
    {
        char dir[sizeof G.config_path], base[sizeof G.config_path];
        const char *slash = strrchr(G.config_path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - G.config_path) : 1, slash ? G.config_path : ".");
        snprintf(base, sizeof base, "%s", slash ? slash + 1 : G.config_path);
        if (dir[0] == '\0') {
            snprintf(dir, sizeof dir, "/");
        }
        (void)file_remove_orphans(dir, base);
    }
    file_storage_init(&G.fs, &G.storage, G.cfg.gateway.state_dir);
    view_store_init(&G.views);
    if (cmdq_init(&G.cmdq) != TB_OK) {
        LOGE("gateway", "cannot create the command queue: %s", strerror(errno));
        return 1;
    }
    uint32_t now = linux_now_ms();
    LOGI("gateway", "tinybms-gateway %s starting%s; configuration %s", TB_VERSION, G.o.demo ? " in DEMO mode" : "",
         G.config_path);

    if (G.o.demo && demo_init(&G.demo, G.cfg.gateway.state_dir, G.cfg.charge.cell_bulk_v, now) != 0) {
        return 1;
    }
    if (can_port_open(&G.can, G.cfg.can.port, now) == TB_OK) {
        LOGI("can", "CAN port %s open", G.cfg.can.port);
    } else {
        LOGE("can", "%s (retrying)", can_port_error(&G.can));
    }
    G.can_open = true;
    G.can_up = can_port_is_open(&G.can);

    gw_ports_t ports = {
        .can_send = can_port_send_cb,
        .can_ctx = &G.can,
        .can_status = can_status,
        .storage = &G.storage,
        .publish = view_store_publish,
        .publish_ctx = &G.views,
        .save_config = save_config,
        .config_ctx = NULL,
        .wall_ms = wall_now,
        .wall_ctx = NULL,
        .history_add = history_store_add,
        .history_ctx = &G.history,
        .web_status = web_status,
        .web_ctx = NULL,
    };
    history_store_init(&G.history);
    gateway_init(&G.gw, &G.cfg, &ports, now);
    gateway_set_config_origin(&G.gw, cfgfile_src_name(cres.source), cres.message);
    if (G.o.demo) {
        /* the counters follow the simulated battery's clock, so kWh and SOC agree */
        gateway_set_energy_time_scale(&G.gw, DEMO_SPEED);
        gateway_set_day_clock(&G.gw, demo_day, &G.demo); /* and the days they are filed under */
    }
    serial_try_open(now);

    G.services = (services_t){0};
    gw_services_t svc = {.views = &G.views, .cmdq = &G.cmdq, .history = &G.history,
                         .state_dir = G.cfg.gateway.state_dir, .config_path = G.config_path, .demo = G.o.demo};
    services_start(&G.services, &svc, &G.cfg); /* never fatal: see services.h */

    if (G.o.demo) {
        const char *hp = G.cfg.gateway.http_listen;
        gw_web_status_t ws;
        services_web_status(&G.services, &ws);
        if (ws.listening) {
            printf("TinyBMS gateway demo: web UI at http://%s/\n", strncmp(hp, "0.0.0.0:", 8) == 0 ? hp + 8 : hp);
        } else {
            printf("TinyBMS gateway demo: the web UI is not available on %s yet (see the message above)\n", hp);
        }
        fflush(stdout);
    }
    sd_notify(0, "READY=1");
    uint64_t wd_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
    uint32_t wd_every = watchdog ? (uint32_t)(wd_usec / 2000u) : 0u;
    uint32_t last_wd = now, last_status = now - STATUS_EVERY_MS;

    bool running = true, restart = false;
    uint32_t restart_at = 0;
    while (running) {
        now = linux_now_ms();
        uint8_t tx[TB_FRAME_MAX];
        int n = gateway_uart_tx(&G.gw, now, tx, sizeof tx);
        if (n > 0) {
            uart_send(tx, (size_t)n, now);
        }
        if (G.o.demo) {
            demo_step(&G.demo, &G.gw, &G.can, now);
        }

        struct pollfd pfd[4];
        int np = 0, i_serial = -1, i_can = -1;
        pfd[np++] = (struct pollfd){G.sfd, POLLIN, 0};
        pfd[np++] = (struct pollfd){cmdq_fd(&G.cmdq), POLLIN, 0};
        if (G.serial_fd >= 0) {
            i_serial = np;
            pfd[np++] = (struct pollfd){G.serial_fd, POLLIN, 0};
        }
        int cfd = can_port_fd(&G.can);
        if (cfd >= 0) {
            i_can = np;
            pfd[np++] = (struct pollfd){cfd, (short)(POLLIN | (can_port_tx_pending(&G.can) ? POLLOUT : 0)), 0};
        }
        uint32_t wait = gateway_wait_ms(&G.gw, now);
        if (G.o.demo) {
            uint32_t due;
            if (demo_uart_pending(&G.demo, &due)) {
                int32_t d = (int32_t)(due - now);
                uint32_t w = d <= 0 ? 0u : (uint32_t)d;
                wait = w < wait ? w : wait;
            }
        }
        if (G.serial_fd < 0 && !G.o.demo && wait > SERIAL_RETRY_MS) {
            wait = SERIAL_RETRY_MS;
        }
        if (poll(pfd, (nfds_t)np, (int)wait) < 0 && errno != EINTR) {
            LOGE("gateway", "poll: %s", strerror(errno));
            break;
        }
        now = linux_now_ms();

        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(G.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGHUP) {
                    reload_config(now);
                } else {
                    LOGI("gateway", "%s received: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                    running = false;
                    restart = false; /* a stop request wins over a pending restart */
                    restart_at = 0;
                }
            }
        }
        if (i_serial >= 0 && pfd[i_serial].revents) {
            if (pfd[i_serial].revents & (POLLERR | POLLNVAL)) {
                serial_lost(now, "port error (adapter unplugged?)");
            } else {
                uint8_t rx[512];
                ssize_t k = serial_read(G.serial_fd, rx, sizeof rx);
                if (k > 0) {
                    gateway_uart_rx(&G.gw, rx, (size_t)k, now);
                } else if (k < 0) {
                    serial_lost(now, strerror(errno));
                } else if (pfd[i_serial].revents & POLLHUP) {
                    serial_lost(now, "hang-up (adapter unplugged?)");
                }
            }
        }
        if (i_can >= 0 && pfd[i_can].revents) {
            can_frame_t f;
            int k;
            while ((k = can_port_recv(&G.can, &f)) > 0) {
                gateway_can_rx(&G.gw, &f, now);
            }
        }
        can_port_service(&G.can, now);
        serial_try_open(now);
        if (pfd[1].revents & POLLIN) {
            run_commands(now);
        } else {
            gw_cmd_t *c;
            while ((c = gateway_command_poll(&G.gw, now)) != NULL) {
                cmdq_complete(&G.cmdq, c);
            }
        }
        gateway_run(&G.gw, now);
        can_watch();

        if (gateway_restart_requested(&G.gw)) {
            if (!restart && running) {
                restart = true;
                restart_at = now + RESTART_DELAY_MS;
            } else if ((int32_t)(now - restart_at) >= 0) {
                running = false;
            }
        }
        if (watchdog && (uint32_t)(now - last_wd) >= wd_every) {
            sd_notify(0, "WATCHDOG=1");
            last_wd = now;
        }
        if ((uint32_t)(now - last_status) >= STATUS_EVERY_MS) {
            notify_status(now);
            last_status = now;
        }
    }

    if (!restart) {
        sd_notify(0, "STOPPING=1");
    }
    now = linux_now_ms();
    cmdq_shutdown(&G.cmdq); /* callers blocked on a command return at once */
    services_stop(&G.services);
    view_store_close(&G.views);
    gateway_shutdown(&G.gw, now);
    if (G.o.demo) {
        demo_save(&G.demo, now);
    }
    can_port_close(&G.can);
    if (G.serial_fd >= 0) {
        close(G.serial_fd);
    }
    cmdq_destroy(&G.cmdq);
    if (restart) {
        return restart_self(argv);
    }
    LOGI("gateway", "bye");
    return 0;
}

/* Test helper (not installed): runs the real CAN scheduler on a real CAN port with fixed battery
 * data, for tests/integration/test_can_*.py.
 *
 *   can_sched_driver SPEC [--set KEY=VALUE]...
 *
 * SPEC is a can_port spec (slcan:/dev/pts/N, log:PATH, socketcan:IFACE); --set changes a key of
 * the "can" config section (e.g. --set can.battery_name=TinyBMS Garage 1). The program:
 *   1. tries to push 0x305, 0x306 and 0x307 through the scheduler's TX path (all must be refused);
 *   2. builds can_inputs_t from a fixed bms_snapshot_t through can_inputs_build() (the real
 *      mapping) and feeds it as a fresh snapshot every 250 ms;
 *   3. runs poll() over the port and stdin, feeding received frames to can_sched_on_rx();
 *   4. prints one JSON object per line on stdout: {"event":"ready"}, {"event":"rx",...},
 *      {"event":"gx_present",...}, and at the end {"event":"final","sched":{...},"port":{...}};
 *   5. ends when stdin reaches EOF or on SIGTERM/SIGINT; exit 0, or 2 on setup errors.
 * Time comes from CLOCK_MONOTONIC here, in the port layer; the scheduler only sees now_ms.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/can_inputs.h"
#include "app/can_sched.h"
#include "core/jw.h"
#include "ports/linux/can_port.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint32_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void emit(const char *json)
{
    fputs(json, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static int apply_set(can_sched_cfg_t *cfg, const char *kv)
{
    char key[64];
    const char *eq = strchr(kv, '=');
    if (!eq || (size_t)(eq - kv) >= sizeof key) {
        fprintf(stderr, "can_sched_driver: --set wants KEY=VALUE, got '%s'\n", kv);
        return -1;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    const char *val = eq + 1;
    const cfg_param_t *p = cfg_find(&can_sched_cfg_section, key);
    if (!p) {
        fprintf(stderr, "can_sched_driver: unknown key '%s'\n", key);
        return -1;
    }
    cfg_error_t err = {0};
    int rc;
    if (p->type == CFG_STRING) {
        rc = cfg_set_string(p, cfg, val, &err);
    } else if (p->type == CFG_BOOL) {
        rc = cfg_set_bool(p, cfg, strcmp(val, "true") == 0 || strcmp(val, "1") == 0, &err);
    } else {
        char *end = NULL;
        double d = strtod(val, &end);
        rc = (end && *end == '\0') ? cfg_set_number(p, cfg, d, &err) : TB_ERR_RANGE;
    }
    if (rc != TB_OK) {
        fprintf(stderr, "can_sched_driver: %s = %s refused: %s\n", key, val, err.reason ? err.reason : "bad value");
        return -1;
    }
    return 0;
}

/* A healthy 16S LiFePO4 pack, as the TinyBMS decoder would deliver it. */
static void fixed_snapshot(bms_snapshot_t *s, uint32_t t)
{
    memset(s, 0, sizeof *s);
    bms_live_t *l = &s->live;
    l->valid = true;
    l->t_ms = t;
    l->cell_count = 16;
    for (unsigned i = 0; i < 16; i++) {
        l->cell_v[i] = 3.320f + 0.001f * (float)i;
    }
    l->cell_v[2] = 3.301f;
    l->cell_v[11] = 3.342f;
    l->min_cell_v = 3.301f;
    l->max_cell_v = 3.342f;
    l->pack_voltage_v = 53.21f;
    l->pack_current_a = -12.3f;
    l->soc_pct = 75.4f;
    l->soh_pct = 98.0f;
    l->temp_internal_c = 31.0f;
    l->temp_ext_c[0] = 22.0f;
    l->temp_ext_c[1] = 25.0f;
    l->temp_ext_present[0] = l->temp_ext_present[1] = true;
    l->status = BMS_STATUS_DISCHARGING;
    s->settings.valid = true;
    s->settings.t_ms = t;
    s->settings.capacity_ah = 280.0f;
    s->settings.series_cells = 16;
    s->version.valid = true;
    s->version.fw_public = 1;
    s->version.fw_internal = 242;
}

static void build_inputs(can_inputs_t *in, const can_sched_cfg_t *cfg, uint32_t t)
{
    bms_snapshot_t snap;
    fixed_snapshot(&snap, t);
    can_inputs_src_t src;
    memset(&src, 0, sizeof src);
    src.limits = (can_limits_in_t){true, true, 56.0f, 50.0f, 100.0f, 44.8f};
    memset(&src.alarms, ALARM_LEVEL_OK, sizeof src.alarms);
    src.alarms.level[ALARM_GENERAL] = ALARM_LEVEL_UNSUPPORTED;
    src.alarms.level[ALARM_CONTACTOR] = ALARM_LEVEL_UNSUPPORTED;
    src.alarms.level[ALARM_SHORT_CIRCUIT] = ALARM_LEVEL_UNSUPPORTED;
    src.energy_in_wh = 1234500.0;
    src.energy_out_wh = 987600.0;
    src.identity = can_sched_identity(cfg);
    src.live_fresh = true;
    can_inputs_build(in, &snap, &src);
}

static void print_final(const can_sched_t *s, const can_port_t *port, uint32_t t)
{
    static char buf[32768];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    jw_kv_str(&w, "event", "final");
    jw_key(&w, "sched");
    can_sched_json(s, &w, t);
    jw_key(&w, "port");
    const can_port_stats_t *st = can_port_stats(port);
    jw_obj_begin(&w);
    jw_kv_uint(&w, "tx_frames", st->tx_frames);
    jw_kv_uint(&w, "tx_errors", st->tx_errors);
    jw_kv_uint(&w, "tx_dropped", st->tx_dropped);
    jw_kv_uint(&w, "rx_frames", st->rx_frames);
    jw_kv_uint(&w, "rx_errors", st->rx_errors);
    jw_kv_uint(&w, "adapter_errors", st->adapter_errors);
    jw_kv_str(&w, "error", can_port_error(port));
    jw_obj_end(&w);
    jw_obj_end(&w);
    if (jw_finish(&w) < 0) {
        emit("{\"event\":\"final\",\"error\":\"json overflow\"}");
        return;
    }
    emit(buf);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: can_sched_driver SPEC [--set KEY=VALUE]...\n");
        return 2;
    }
    can_sched_cfg_t cfg;
    cfg_set_defaults(&can_sched_cfg_section, &cfg);
    snprintf(cfg.port, sizeof cfg.port, "%s", argv[1]);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            if (apply_set(&cfg, argv[++i]) != 0) {
                return 2;
            }
        } else {
            fprintf(stderr, "can_sched_driver: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    static can_port_t port;
    uint32_t t = now_ms();
    if (can_port_open(&port, argv[1], t) != TB_OK) {
        fprintf(stderr, "can_sched_driver: %s\n", can_port_error(&port));
        return 2;
    }
    static can_sched_t sched;
    cfg_error_t err = {0};
    if (can_sched_init(&sched, &cfg, can_port_send_cb, &port, &err) != TB_OK) {
        fprintf(stderr, "can_sched_driver: config refused: %s: %s\n", err.param ? err.param->key : "?",
                err.reason ? err.reason : "?");
        return 2;
    }
    can_inputs_t in;
    build_inputs(&in, &cfg, t);
    can_sched_update(&sched, &in, true, t);

    /* 1. the GX's ids through the one TX path: every attempt must be refused */
    static const uint16_t gx[] = {0x305, 0x306, 0x307};
    int refused = 0;
    for (size_t i = 0; i < 3; i++) {
        can_frame_t f = {.id = gx[i], .dlc = 8, .flags = 0, .data = {0}};
        refused += can_sched_transmit(&sched, &f, t) < 0;
    }
    char line[256];
    snprintf(line, sizeof line, "{\"event\":\"ready\",\"gx_ids_refused\":%d}", refused);
    emit(line);

    bool stdin_open = true;
    bool gx_was_present = false;
    uint32_t last_update = t;
    while (!g_stop && stdin_open) {
        t = now_ms();
        if ((int32_t)(t - last_update) >= 250) {
            build_inputs(&in, &cfg, t);
            can_sched_update(&sched, &in, true, t);
            last_update = t;
        }
        can_port_service(&port, t);
        (void)can_sched_poll(&sched, t);

        struct pollfd pfd[2];
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
        int cfd = can_port_fd(&port);
        if (cfd >= 0) {
            pfd[n++] = (struct pollfd){.fd = cfd, .events = (short)(POLLIN | (can_port_tx_pending(&port) ? POLLOUT : 0)),
                                       .revents = 0};
        }
        uint32_t due = can_sched_next_due_ms(&sched, t);
        int timeout = due > 50u ? 50 : (int)due;
        int pr = poll(pfd, n, timeout);
        if (pr < 0 && errno != EINTR) {
            perror("can_sched_driver: poll");
            break;
        }
        if (pr > 0 && (pfd[0].revents & (POLLIN | POLLHUP))) {
            char b[256];
            ssize_t r = read(STDIN_FILENO, b, sizeof b);
            if (r <= 0) {
                stdin_open = false;
            }
        }
        can_frame_t f;
        int rc;
        while ((rc = can_port_recv(&port, &f)) == 1) {
            t = now_ms();
            can_sched_on_rx(&sched, &f, t);
            snprintf(line, sizeof line, "{\"event\":\"rx\",\"id\":\"0x%03X\",\"dlc\":%u,\"flags\":%u}", (unsigned)f.id,
                     (unsigned)f.dlc, (unsigned)f.flags);
            emit(line);
        }
        if (rc < 0) {
            fprintf(stderr, "can_sched_driver: %s\n", can_port_error(&port));
        }
        bool present = can_sched_gx_present(&sched, now_ms());
        if (present && !gx_was_present) {
            snprintf(line, sizeof line, "{\"event\":\"gx_present\",\"keepalive\":%u,\"inverter_id\":%u,\"signature_ok\":%s}",
                     (unsigned)sched.n.rx_gx_keepalive, (unsigned)sched.n.rx_gx_inverter,
                     sched.gx_signature_ok ? "true" : "false");
            emit(line);
        }
        gx_was_present = present;
    }
    print_final(&sched, &port, now_ms());
    can_port_close(&port);
    return 0;
}

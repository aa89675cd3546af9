/* bench_cycle: instruction counts of the gateway's hot path, for `make bench`
 * (bench/run_bench.py).
 *
 *   bench_cycle MODE N
 *
 * runs MODE N times between two callgrind client requests
 * (CALLGRIND_TOGGLE_COLLECT), so that `valgrind --tool=callgrind
 * --collect-atstart=no bench_cycle MODE N` counts exactly the measured region.
 * run_bench.py runs each mode with N and 2N iterations and divides the
 * difference by N, which also removes one-time costs inside the region (lazy
 * symbol binding, first-touch page faults). Outside valgrind the client
 * requests are no-ops and the program prints a wall-clock figure (ns per
 * iteration) that is only indicative on a shared machine.
 *
 * Inputs are real: the reply frames are produced by the simulator (sim/)
 * answering the gateway's own read requests for the four blocks a cycle can
 * refresh (live 0-55, statistics 100-117, settings 300-343, version 500-509),
 * for a 16-cell pack discharging at 20 A.
 *
 * Modes:
 *   cycle    the whole cycle of issue 10: every reply frame through the receive
 * state machine (tb_rx), parsed (tb_parse_read) and decoded (bms_decode_*) ->
 * chg_step -> alarms_step -> can_inputs_build -> every CAN frame of the three
 * groups encoded and passed through the TX guard (can_sched_update +
 * can_sched_poll, 17 frames) -> the view copied and its JSON rendered
 * (gw_view_render) decode   only the decode part of `cycle` (4 frames) chg
 * chg_step alone (100 ms apart, steady input) alarms   alarms_step alone can
 * can_inputs_build + all 17 frames (update + poll with every group due) view
 * gw_view_render alone (the JSON view with core/jw) cjson    the same JSON
 * document built with cJSON (cJSON_Create* for every value, then
 *            cJSON_PrintUnformatted, then cJSON_Delete and free), see
 * build_ops() daemon   what the daemon's owner loop does per 10 Hz poll: one
 * live reply through gateway_uart_rx (tb_poll: matching, decoding, statistics)
 * and gateway_run (limits, alarms, energy, CAN scheduler, history, view
 * publication every 100 ms) empty    nothing (measures the harness itself;
 * should print ~0)
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__has_include) && __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT /* valgrind not installed: wall-clock figures                                         \
                                    only */
#endif

#include "app/can_inputs.h"
#include "app/can_sched.h"
#include "app/chg_reason.h"
#include "app/config.h"
#include "app/gateway.h"
#include "app/gw_view.h"
#include "core/alarms.h"
#include "core/bms.h"
#include "core/charge.h"
#include "core/tb_proto.h"
#include "sim/sim.h"

typedef struct {
    uint16_t addr;
    uint16_t count;
    uint8_t bytes[TB_FRAME_MAX];
    size_t len;
} reply_t;

enum { R_LIVE, R_STATS, R_SETTINGS, R_VERSION, R_COUNT };

static reply_t g_reply[R_COUNT] = {
    {BMS_LIVE_FIRST, BMS_LIVE_COUNT, {0}, 0},
    {BMS_STATS_FIRST, BMS_STATS_COUNT, {0}, 0},
    {BMS_SETTINGS_FIRST, BMS_SETTINGS_COUNT, {0}, 0},
    {BMS_VERSION_FIRST, BMS_VERSION_COUNT, {0}, 0},
};

static sim_t g_sim;
static gw_config_t g_cfg;
static bms_snapshot_t g_snap;
static chg_st_t g_chg;
static chg_limits_t g_limits;
static alarms_state_t g_al_st;
static alarms_out_t g_alarms;
static can_sched_t g_can;
static gw_view_t g_view;
static gateway_t g_gw;
static tb_rx_t g_rx;
static uint32_t g_now = 100000;
static volatile uint32_t g_sink;
static unsigned g_frames_sent;

static int fail(const char *what)
{
    fprintf(stderr, "bench_cycle: %s\n", what);
    exit(1);
}

/* Ask the simulator for one block, as the gateway would, and keep the reply
 * bytes. */
static void capture(reply_t *r)
{
    uint8_t req[16];
    int n = tb_enc_read(req, sizeof req, r->addr, r->count);
    if (n <= 0) {
        fail("tb_enc_read");
    }
    sim_rx(&g_sim, req, (size_t)n, g_now);
    r->len = 0;
    for (int k = 0; k < 50 && r->len < sizeof r->bytes; k++) {
        g_now += 2;
        r->len += sim_tx(&g_sim, r->bytes + r->len, sizeof r->bytes - r->len, g_now);
    }
    if (r->len != 5u + 2u * r->count) {
        fail("the simulator's reply has an unexpected length");
    }
    g_now += 20;
}

static void make_replies(void)
{
    sim_config_t sc;
    sim_config_default(&sc);
    sc.cells = 16;
    sc.capacity_ah = 280;
    sc.soc_pct = 62;
    sc.seed = 7;
    sc.sleep_enabled = false;
    sc.start_ms = g_now;
    if (sim_init(&g_sim, &sc) != SIM_OK || sim_set_current(&g_sim, -20.0, g_now) != SIM_OK) {
        fail("sim_init");
    }
    g_now += 5000;
    sim_advance(&g_sim, g_now);
    for (unsigned i = 0; i < R_COUNT; i++) {
        capture(&g_reply[i]);
    }
}

/* ---- the decode part: bytes -> frames -> registers -> snapshot blocks
 * ------------------------ */

static void decode_all(uint32_t now)
{
    tb_frame_t f;
    uint16_t regs[TB_READ_MAX_REGS];
    for (unsigned i = 0; i < R_COUNT; i++) {
        tb_rx_push(&g_rx, g_reply[i].bytes, g_reply[i].len, now);
        if (!tb_rx_next(&g_rx, now, &f) || tb_parse_read(&f, g_reply[i].count, regs) != TB_OK) {
            fail("a captured reply did not parse");
        }
        int rc;
        switch (i) {
        case R_LIVE: rc = bms_decode_live(&g_snap.live, regs, g_reply[i].count, now, NULL); break;
        case R_STATS: rc = bms_decode_stats(&g_snap.stats, regs, g_reply[i].count, now, NULL); break;
        case R_SETTINGS: rc = bms_decode_settings(&g_snap.settings, regs, g_reply[i].count, now, NULL); break;
        default: rc = bms_decode_version(&g_snap.version, regs, g_reply[i].count, now, NULL); break;
        }
        if (rc != TB_OK) {
            fail("a captured reply did not decode");
        }
    }
}

static int count_send(void *ctx, const can_frame_t *f)
{
    (void)ctx;
    g_sink += f->data[0];
    g_frames_sent++;
    return 0;
}

static void can_all(uint32_t now)
{
    can_inputs_src_t src;
    memset(&src, 0, sizeof src);
    can_inputs_src_from_charge(&src, &g_limits);
    src.alarms = g_alarms.set;
    src.energy_in_wh = 1234.5;
    src.energy_out_wh = 987.6;
    src.identity = can_sched_identity(&g_cfg.can);
    can_inputs_t in;
    can_inputs_build(&in, &g_snap, &src);
    can_sched_update(&g_can, &in, true, now);
    /* every group due, as at the first poll after data: the worst case of a cycle
     */
    memset(g_can.group_ever, 0, sizeof g_can.group_ever);
    g_sink += (uint32_t)can_sched_poll(&g_can, now);
}

static void view_fill(uint32_t now)
{
    gw_view_t *v = &g_view;
    v->seq++;
    v->t_ms = now;
    v->wall_ms = 1795000000000ull + now;
    v->uptime_s = now / 1000u;
    v->snap = g_snap;
    v->limits = g_limits;
    v->alarms = g_alarms;
    v->energy_known = true;
    v->energy_in_wh = 1234.5;
    v->energy_out_wh = 987.6;
    v->can = g_can.n;
    memcpy(v->can_slots, g_can.slot, sizeof v->can_slots);
}

static void setup_pipeline(void)
{
    gw_config_defaults(&g_cfg);
    tb_rx_init(&g_rx, 50);
    chg_init(&g_chg);
    alarms_init(&g_al_st);
    cfg_error_t err = {NULL, NULL};
    if (can_sched_init(&g_can, &g_cfg.can, count_send, NULL, &err) != TB_OK) {
        fail("can_sched_init");
    }
    memset(&g_view, 0, sizeof g_view);
    snprintf(g_view.can_mode, sizeof g_view.can_mode, "transmitting");
    g_view.can_port_open = true;
    g_view.lat_samples = 1000;
    g_view.lat_p50_ms = 1;
    g_view.lat_p99_ms = 2;
    g_view.gx_present = true;
    g_view.gx_age_ms = 400;
    g_view.link.requests = 123456;
    g_view.link.replies = 123400;
    g_view.link.link_up = true;
    g_view.link.ever_replied = true;
    g_view.link.last_rtt_ms = 12;
    g_view.cfg = g_cfg;
    /* a few cycles so that the controller is in its steady state (ramps done) */
    for (int k = 0; k < 3000; k++) {
        g_now += 100;
        decode_all(g_now);
        chg_step(&g_chg, &g_snap, &g_cfg.charge, g_now, &g_limits);
        alarms_step(&g_al_st, &g_snap, NULL, g_limits.data, g_limits.comm_alarm, &g_cfg.alarms, g_now, &g_alarms);
    }
    if (!g_limits.valid || g_limits.ccl_a <= 0.0f) {
        fail("the controller did not reach a charging state");
    }
    can_all(g_now);
    view_fill(g_now);
    if (gw_view_render(&g_view) <= 0) {
        fail("gw_view_render");
    }
}

/* ---- the same document with cJSON
 * ---------------------------------------------------------- */

/* The cJSON side builds exactly the document gw_view_render wrote: the view's
 * JSON is parsed once (outside the measured region) into a flat list of
 * operations, and each measured iteration replays them with cJSON's builder
 * API, prints unformatted, and frees everything. The replay loop itself costs a
 * few instructions per value; the values come from an array rather than from
 * the view's structs, which favours cJSON slightly. */
typedef enum { OP_OBJ, OP_ARR, OP_END, OP_NUM, OP_STR, OP_TRUE, OP_FALSE, OP_NULL } op_kind_t;
typedef struct {
    op_kind_t kind;
    const char *key; /* NULL inside arrays */
    const char *str;
    double num;
} op_t;

static op_t g_ops[4096];
static size_t g_nops;
static cJSON *g_parsed;

static void flatten(const cJSON *it, const char *key)
{
    if (g_nops + 2 >= sizeof g_ops / sizeof g_ops[0]) {
        fail("view too large for the op list");
    }
    op_t *o = &g_ops[g_nops++];
    memset(o, 0, sizeof *o);
    o->key = key;
    if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
        o->kind = cJSON_IsObject(it) ? OP_OBJ : OP_ARR;
        for (const cJSON *c = it->child; c; c = c->next) {
            flatten(c, cJSON_IsObject(it) ? c->string : NULL);
        }
        g_ops[g_nops++] = (op_t){OP_END, NULL, NULL, 0};
    } else if (cJSON_IsNumber(it)) {
        o->kind = OP_NUM;
        o->num = it->valuedouble;
    } else if (cJSON_IsString(it)) {
        o->kind = OP_STR;
        o->str = it->valuestring;
    } else if (cJSON_IsTrue(it)) {
        o->kind = OP_TRUE;
    } else if (cJSON_IsFalse(it)) {
        o->kind = OP_FALSE;
    } else {
        o->kind = OP_NULL;
    }
}

static void build_ops(void)
{
    g_parsed = cJSON_Parse(g_view.status_json);
    if (!g_parsed) {
        fail("the view's JSON does not parse");
    }
    flatten(g_parsed, NULL);
}

static char *cjson_render(void)
{
    cJSON *stack[32];
    int sp = -1;
    cJSON *root = NULL;
    for (size_t i = 0; i < g_nops; i++) {
        const op_t *o = &g_ops[i];
        cJSON *item;
        switch (o->kind) {
        case OP_END: sp--; continue;
        case OP_OBJ: item = cJSON_CreateObject(); break;
        case OP_ARR: item = cJSON_CreateArray(); break;
        case OP_NUM: item = cJSON_CreateNumber(o->num); break;
        case OP_STR: item = cJSON_CreateString(o->str); break;
        case OP_TRUE: item = cJSON_CreateTrue(); break;
        case OP_FALSE: item = cJSON_CreateFalse(); break;
        default: item = cJSON_CreateNull(); break;
        }
        if (sp < 0) {
            root = item;
        } else if (o->key) {
            cJSON_AddItemToObject(stack[sp], o->key, item);
        } else {
            cJSON_AddItemToArray(stack[sp], item);
        }
        if (o->kind == OP_OBJ || o->kind == OP_ARR) {
            stack[++sp] = item;
        }
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- the daemon's cycle
 * -------------------------------------------------------------------- */

static void null_publish(void *ctx, const gw_view_t *v)
{
    (void)ctx;
    g_sink += (uint32_t)v->status_len;
}

static uint8_t g_live_req[16];
static int g_live_req_len;

/* Run the real gateway_t against the captured replies until its poller asks for
 * the live block on its 100 ms cadence (every other block answered too), so
 * that each measured iteration is one steady-state poll: request out, live
 * reply in, one gateway_run. */
static void daemon_step(bool measured)
{
    uint8_t tx[TB_FRAME_MAX];
    for (;;) {
        int n = gateway_uart_tx(&g_gw, g_now, tx, sizeof tx);
        if (n > 0) {
            reply_t *r = NULL;
            uint16_t addr = (uint16_t)(tx[2] << 8 | tx[3]);
            for (unsigned i = 0; i < R_COUNT; i++) {
                if (tx[1] == 0x03 && g_reply[i].addr == addr) {
                    r = &g_reply[i];
                }
            }
            g_now += 1;
            if (r) {
                /* the measured path: the live reply, as the owner loop delivers it */
                gateway_uart_rx(&g_gw, r->bytes, r->len, g_now);
                gateway_run(&g_gw, g_now);
                if (r == &g_reply[R_LIVE] && measured) {
                    g_now += gateway_wait_ms(&g_gw, g_now);
                    return;
                }
            } else {
                /* a request this bench has no reply for (events, 0x1D tables): let it
                 * time out */
                g_now += 600;
                gateway_run(&g_gw, g_now);
            }
            continue;
        }
        uint32_t w = gateway_wait_ms(&g_gw, g_now);
        g_now += w ? w : 1;
        gateway_run(&g_gw, g_now);
        if (!measured) {
            return;
        }
    }
}

static void setup_daemon(void)
{
    gw_config_defaults(&g_cfg);
    g_cfg.link.events_period_ms = 0;
    g_cfg.link.read_device_limits = false;
    gw_ports_t ports;
    memset(&ports, 0, sizeof ports);
    ports.can_send = count_send;
    ports.publish = null_publish;
    if (gateway_init(&g_gw, &g_cfg, &ports, g_now) != TB_OK) {
        fail("gateway_init");
    }
    (void)g_live_req;
    (void)g_live_req_len;
    for (int k = 0; k < 20000; k++) {
        daemon_step(false);
    }
    for (int k = 0; k < 300; k++) {
        daemon_step(true);
    }
    if (!g_gw.limits.valid) {
        fail("the daemon cycle never produced valid limits");
    }
}

/* ---- main
 * ------------------------------------------------------------------------------------
 */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_cycle "
                        "cycle|decode|chg|alarms|can|view|cjson|daemon|empty N\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = strtol(argv[2], NULL, 10);
    if (n <= 0) {
        return 2;
    }
    make_replies();
    setup_pipeline();
    build_ops();
    if (strcmp(mode, "daemon") == 0) {
        setup_daemon();
    }
    /* warm-up: one iteration outside the measured region */
    char *warm = cjson_render();
    free(warm);

    double t0 = now_ns();
    CALLGRIND_TOGGLE_COLLECT;
    if (strcmp(mode, "cycle") == 0) {
        for (long i = 0; i < n; i++) {
            g_now += 100;
            decode_all(g_now);
            chg_step(&g_chg, &g_snap, &g_cfg.charge, g_now, &g_limits);
            chg_reason_fill(&g_limits); /* as app/gateway does */
            alarms_step(&g_al_st, &g_snap, NULL, g_limits.data, g_limits.comm_alarm, &g_cfg.alarms, g_now, &g_alarms);
            can_all(g_now);
            view_fill(g_now);
            g_sink += (uint32_t)gw_view_render(&g_view);
        }
    } else if (strcmp(mode, "decode") == 0) {
        for (long i = 0; i < n; i++) {
            g_now += 100;
            decode_all(g_now);
        }
    } else if (strcmp(mode, "chg") == 0) {
        for (long i = 0; i < n; i++) {
            g_now += 100;
            g_snap.live.t_ms = g_now; /* a fresh live block each cycle, as in the daemon */
            chg_step(&g_chg, &g_snap, &g_cfg.charge, g_now, &g_limits);
        }
    } else if (strcmp(mode, "alarms") == 0) {
        for (long i = 0; i < n; i++) {
            g_now += 100;
            g_snap.live.t_ms = g_now;
            alarms_step(&g_al_st, &g_snap, NULL, g_limits.data, g_limits.comm_alarm, &g_cfg.alarms, g_now, &g_alarms);
        }
    } else if (strcmp(mode, "can") == 0) {
        for (long i = 0; i < n; i++) {
            g_now += 100;
            can_all(g_now);
        }
    } else if (strcmp(mode, "view") == 0) {
        for (long i = 0; i < n; i++) {
            g_sink += (uint32_t)gw_view_render(&g_view);
        }
    } else if (strcmp(mode, "cjson") == 0) {
        for (long i = 0; i < n; i++) {
            char *s = cjson_render();
            g_sink += (uint32_t)s[0];
            free(s);
        }
    } else if (strcmp(mode, "daemon") == 0) {
        for (long i = 0; i < n; i++) {
            daemon_step(true);
        }
    } else if (strcmp(mode, "empty") != 0) {
        CALLGRIND_TOGGLE_COLLECT;
        fprintf(stderr, "bench_cycle: unknown mode %s\n", mode);
        return 2;
    }
    CALLGRIND_TOGGLE_COLLECT;
    double dt = now_ns() - t0;

    /* sanity: what was measured really happened */
    char *c = cjson_render();
    printf("mode=%s n=%ld ns_per_iter=%.0f view_bytes=%zu cjson_bytes=%zu "
           "frames_per_cycle=%u limits_valid=%d ccl=%.1f\n",
           mode, n, dt / (double)n, g_view.status_len, strlen(c), 17u, (int)g_limits.valid, (double)g_limits.ccl_a);
    free(c);
    cJSON_Delete(g_parsed);
    return 0;
}

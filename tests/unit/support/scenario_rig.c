/* scenario_rig: see scenario_rig.h. */
#include "scenario_rig.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "core/bms.h"

#define MAX_STEP_MS 100u

static scen_t *g_log_rig; /* the log port's clock (one rig at a time) */

void scen_opts_default(scen_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->cells = 16;
    o->capacity_ah = 100.0;
    o->soc_pct = 50.0;
    o->ambient_c = 25.0;
    o->temp_c = NAN;
    o->soc_spread_pct = -1.0;
    o->speed = 1.0;
    o->seed = 7;
    o->gx_obeys = true;
    o->log_level = LOG_WARN;
}

void scen_say(const scen_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  [%9.3f s] ", (double)(s->now - SCEN_START_MS) / 1000.0);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static void violation(scen_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(scen_t *s, const char *fmt, ...)
{
    if (s->violations++ == 0u) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(s->first_violation, sizeof s->first_violation, "t=%.3f s: ",
                         (double)(s->now - SCEN_START_MS) / 1000.0);
        if (n > 0 && (size_t)n < sizeof s->first_violation) {
            vsnprintf(s->first_violation + n, sizeof s->first_violation - (size_t)n, fmt, ap);
        }
        va_end(ap);
        printf("  ORACLE: %s\n", s->first_violation);
    }
}

/* ---- log port: gateway log lines with the wire time ------------------------------------------ */

static uint32_t log_now(void *ctx)
{
    (void)ctx;
    return g_log_rig ? g_log_rig->now : 0u;
}

static void log_write(void *ctx, const log_entry_t *e)
{
    (void)ctx;
    if (g_log_rig && (int)e->level <= g_log_rig->opts.log_level) {
        printf("  [%9.3f s] gw %s %s: %s\n", (double)(e->t_ms - SCEN_START_MS) / 1000.0, log_level_name((log_level_t)e->level),
               e->module, e->msg);
    }
}

/* ---- the GX ------------------------------------------------------------------------------- */

static void gx_apply(scen_t *s, double cvl, double ccl, double dcl)
{
    if (s->opts.gx_obeys) {
        (void)sim_set_limits(&s->sim, true, cvl, ccl, dcl, s->now);
    }
}

/* The oracle on one 0x351 (the previous one in s->last351 when s->have351). */
static void check_351(scen_t *s, const scen_351_t *f)
{
    const chg_config_t *c = &s->cfg.charge;
    const vcan_limits_t *l = &f->lim;
    double n = (double)s->opts.cells;
    const double eps = 1e-3;
    if (!bms_snapshot_complete(&s->gw.poll.snap)) {
        violation(s, "0x351 sent before a complete BMS snapshot");
    }
    if (!(l->cvl_v <= n * (double)c->cell_bulk_v + eps)) {
        violation(s, "CVL %.1f V above %u x %.3f V", (double)l->cvl_v, s->opts.cells, (double)c->cell_bulk_v);
    }
    if (!(l->cvl_v >= 2.0 * n)) {
        violation(s, "CVL %.1f V is not a pack voltage", (double)l->cvl_v);
    }
    if (!(l->ccl_a >= 0.0f) || !(l->dcl_a >= 0.0f)) {
        violation(s, "negative current limit: CCL %.1f A, DCL %.1f A", (double)l->ccl_a, (double)l->dcl_a);
    }
    if (l->ccl_a <= 0.0f && !((double)l->cvl_v <= (double)f->pack_v_known + eps)) {
        violation(s, "CCL 0 but CVL %.1f V above the pack voltage %.3f V", (double)l->cvl_v, (double)f->pack_v_known);
    }
    if (!s->have351) {
        return;
    }
    const scen_351_t *p = &s->last351;
    uint32_t dt = f->t_ms - p->t_ms;
    double dts = (double)dt / 1000.0;
    double hold = (double)c->limit_hold_s * 1000.0;
    double slack = 0.1 + eps + (double)s->ramp_slack_a;
    /* CCL */
    if (l->ccl_a < p->lim.ccl_a) {
        s->ccl_dec_seen = true;
        s->ccl_dec_after_ms = p->t_ms;
    } else if (l->ccl_a > p->lim.ccl_a) {
        if ((double)(l->ccl_a - p->lim.ccl_a) > (double)c->ccl_ramp_a_s * dts + slack) {
            violation(s, "CCL rose %.1f -> %.1f A in %u ms (ramp %.1f A/s)", (double)p->lim.ccl_a, (double)l->ccl_a, dt,
                      (double)c->ccl_ramp_a_s);
        }
        if (s->ccl_dec_seen && (double)(f->t_ms - s->ccl_dec_after_ms) < hold) {
            violation(s, "CCL rose to %.1f A within %d s of a decrease", (double)l->ccl_a, (int)c->limit_hold_s);
        }
    }
    /* DCL */
    if (l->dcl_a < p->lim.dcl_a) {
        s->dcl_dec_seen = true;
        s->dcl_dec_after_ms = p->t_ms;
    } else if (l->dcl_a > p->lim.dcl_a) {
        if ((double)(l->dcl_a - p->lim.dcl_a) > (double)c->dcl_ramp_a_s * dts + slack) {
            violation(s, "DCL rose %.1f -> %.1f A in %u ms (ramp %.1f A/s)", (double)p->lim.dcl_a, (double)l->dcl_a, dt,
                      (double)c->dcl_ramp_a_s);
        }
        if (s->dcl_dec_seen && (double)(f->t_ms - s->dcl_dec_after_ms) < hold) {
            violation(s, "DCL rose to %.1f A within %d s of a decrease", (double)l->dcl_a, (int)c->limit_hold_s);
        }
    }
    /* CVL while charging on both sides (a stop makes CVL follow the pack voltage instead) */
    if (l->ccl_a > 0.0f && p->lim.ccl_a > 0.0f && l->cvl_v > p->lim.cvl_v) {
        double allowed = n * (double)c->cvl_rise_v_min * dts / 60.0 + 0.1 + eps;
        if ((double)(l->cvl_v - p->lim.cvl_v) > allowed) {
            violation(s, "CVL rose %.1f -> %.1f V in %u ms", (double)p->lim.cvl_v, (double)l->cvl_v, dt);
        }
    }
}

static int can_send(void *ctx, const can_frame_t *f)
{
    scen_t *s = ctx;
    s->frames++;
    s->frames_since_mark++;
    s->last_frame_ms = s->now;
    s->have_frame = true;
    if (!vcan_is_bms_tx_id(f->id) || vcan_is_gx_id(f->id)) {
        violation(s, "frame 0x%03X is not one of the battery's ids", (unsigned)f->id);
        return 0;
    }
    vcan_msg_t m;
    if (vcan_decode(f, &m) != TB_OK) {
        violation(s, "frame 0x%03X does not decode", (unsigned)f->id);
        return 0;
    }
    if (m.id == VCAN_ID_ALARMS) {
        s->last_35a = m.u.alarms;
        s->last_35a_ms = s->now;
        s->have35a = true;
    }
    if (m.id != VCAN_ID_LIMITS) {
        return 0;
    }
    scen_351_t x;
    memset(&x, 0, sizeof x);
    x.t_ms = s->now;
    x.lim = m.u.limits;
    x.pack_v_known = s->gw.limits.pack_v;
    x.state = s->gw.limits.state;
    check_351(s, &x);
    if (s->have351) {
        uint32_t gap = x.t_ms - s->last351.t_ms;
        if (gap > s->max_351_gap_ms) {
            s->max_351_gap_ms = gap;
        }
    } else {
        s->first351_ms = x.t_ms;
    }
    s->last351 = x;
    s->have351 = true;
    s->n351++;
    if (s->gx_stopped) {
        s->gx_stopped = false;
    }
    gx_apply(s, (double)x.lim.cvl_v, (double)x.lim.ccl_a, (double)x.lim.dcl_a);
    if (s->on_351) {
        s->on_351(s, &x, s->hook_ctx);
    }
    return 0;
}

static void gx_watchdog(scen_t *s)
{
    if (s->gx_stopped) {
        return;
    }
    if (!s->have351 || (uint32_t)(s->now - s->last351.t_ms) > SCEN_GX_TIMEOUT_MS) {
        if (s->have351) {
            s->gx_stopped = true;
            s->gx_stopped_since = s->now;
        }
        gx_apply(s, 0.0, 0.0, 0.0);
    }
}

static int32_t div_round(int32_t v, double k)
{
    return (int32_t)lround((double)v / k);
}

void scen_config_battery_time(gw_config_t *cfg, double speed)
{
    chg_config_t *c = &cfg->charge;
    float f = (float)speed;
    c->absorption_time_s = div_round(c->absorption_time_s, speed);
    c->absorption_max_s = div_round(c->absorption_max_s, speed);
    c->tail_time_s = div_round(c->tail_time_s, speed);
    c->rebulk_delay_s = div_round(c->rebulk_delay_s, speed);
    c->limit_hold_s = div_round(c->limit_hold_s, speed);
    c->cvl_hold_s = div_round(c->cvl_hold_s, speed);
    c->float_descent_v_min *= f;
    c->cvl_rise_v_min *= f;
    c->ccl_ramp_a_s *= f;
    c->dcl_ramp_a_s *= f;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int scen_init(scen_t *s, const scen_opts_t *opts, const gw_config_t *cfg)
{
    memset(s, 0, sizeof *s);
    s->opts = *opts;
    s->now = SCEN_START_MS;
    if (cfg) {
        s->cfg = *cfg;
    } else {
        gw_config_defaults(&s->cfg);
    }
    cfg_diag_t d;
    if (gw_config_check(&s->cfg, &d) != TB_OK) {
        printf("  scenario configuration refused: %s: %s\n", d.key, d.message);
        return 0;
    }
    sim_config_t sc;
    sim_config_default(&sc);
    sc.cells = opts->cells;
    sc.capacity_ah = opts->capacity_ah;
    sc.soc_pct = opts->soc_pct;
    sc.ambient_c = opts->ambient_c;
    sc.temp_c = opts->temp_c;
    if (opts->soc_spread_pct >= 0.0) {
        sc.soc_spread_pct = opts->soc_spread_pct;
    }
    sc.speed = opts->speed;
    sc.seed = opts->seed;
    sc.start_ms = s->now;
    if (sim_init(&s->sim, &sc) != SIM_OK) {
        printf("  simulator refused its configuration\n");
        return 0;
    }
    g_log_rig = s;
    log_reset();
    log_port_t lp;
    memset(&lp, 0, sizeof lp);
    lp.write = log_write;
    lp.now_ms = log_now;
    log_set_port(&lp);

    gw_ports_t ports;
    memset(&ports, 0, sizeof ports);
    ports.can_send = can_send;
    ports.can_ctx = s;
    if (gateway_init(&s->gw, &s->cfg, &ports, s->now) != TB_OK) {
        printf("  gateway refused its CAN configuration\n");
        return 0;
    }
    s->min_cell_true_v = 1e9;
    gx_apply(s, 0.0, 0.0, 0.0); /* no battery on the bus yet: the system neither charges nor discharges */
    sim_truth(&s->sim, &s->truth);
    return 1;
}

static void uart_out(scen_t *s)
{
    uint8_t tx[TB_FRAME_MAX];
    int n = gateway_uart_tx(&s->gw, s->now, tx, sizeof tx);
    if (n > 0) {
        sim_rx(&s->sim, tx, (size_t)n, s->now);
    } else if (n < 0) {
        violation(s, "gateway_uart_tx failed: %d", n);
    }
}

void scen_step(scen_t *s)
{
    uart_out(s);
    uint8_t rx[512];
    size_t k;
    while ((k = sim_tx(&s->sim, rx, sizeof rx, s->now)) > 0) {
        gateway_uart_rx(&s->gw, rx, k, s->now);
    }
    if (s->gw.poll.updated & (1u << TB_BLK_LIVE)) {
        s->live_replies++;
        s->last_live_rx_ms = s->now;
        s->last_live_max_cell_v = s->gw.poll.snap.live.max_cell_v;
        s->last_live_min_cell_v = s->gw.poll.snap.live.min_cell_v;
    }
    gateway_run(&s->gw, s->now);
    gx_watchdog(s);
    uart_out(s); /* a reply may have made the next request due at once */

    sim_advance(&s->sim, s->now);
    sim_truth(&s->sim, &s->truth);
    for (unsigned i = 0; i < s->truth.cells; i++) {
        if (s->truth.cell_v[i] > s->max_cell_true_v) {
            s->max_cell_true_v = s->truth.cell_v[i];
        }
        if (s->truth.cell_v[i] < s->min_cell_true_v) {
            s->min_cell_true_v = s->truth.cell_v[i];
        }
    }
    s->protections_seen |= s->truth.protections;
    if (s->on_step) {
        s->on_step(s, s->hook_ctx);
    }

    uint32_t w = gateway_wait_ms(&s->gw, s->now);
    uint32_t due;
    if (sim_tx_pending(&s->sim, &due)) {
        int32_t d = (int32_t)(due - s->now);
        uint32_t dw = d <= 0 ? 0u : (uint32_t)d;
        w = dw < w ? dw : w;
    }
    if (w < 1u) {
        w = 1u;
    }
    if (w > MAX_STEP_MS) {
        w = MAX_STEP_MS;
    }
    s->now += w;
    s->steps++;
}

void scen_run(scen_t *s, uint32_t ms)
{
    uint32_t end = s->now + ms;
    while ((int32_t)(s->now - end) < 0) {
        scen_step(s);
    }
}

bool scen_run_until(scen_t *s, uint32_t ms, bool (*pred)(const scen_t *s, void *ctx), void *ctx)
{
    uint32_t end = s->now + ms;
    while ((int32_t)(s->now - end) < 0) {
        scen_step(s);
        if (pred(s, ctx)) {
            return true;
        }
    }
    return false;
}

double scen_wire_s(const scen_t *s)
{
    return (double)(s->now - SCEN_START_MS) / 1000.0;
}

double scen_model_h(const scen_t *s)
{
    return s->truth.model_s / 3600.0;
}

int scen_load_charger(scen_t *s, double amps)
{
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_CHARGER;
    l.charge_a = amps;
    l.charge_v = 0.0; /* cells x register 300: above every CVL the gateway may send */
    l.tail_a = 0.0;   /* never stops by itself: only CVL/CCL stop it */
    return sim_set_load(&s->sim, &l, s->now);
}

int scen_load_current(scen_t *s, double amps)
{
    return sim_set_current(&s->sim, amps, s->now);
}

void scen_mark_bus(scen_t *s)
{
    s->frames_since_mark = 0;
}

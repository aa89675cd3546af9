#include "app/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/api.h"
#include "core/alarms.h"
#include "core/failsafe.h"
#include "core/vcan.h"

typedef struct {
    char *buf;
    size_t cap, len;
    bool overflow;
} mb_t;

static void put(mb_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(mb_t *m, const char *fmt, ...)
{
    if (m->overflow) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= m->cap - m->len) {
        m->overflow = true;
        return;
    }
    m->len += (size_t)n;
}

static void head(mb_t *m, const char *name, const char *type, const char *help)
{
    put(m, "# HELP tinybms_%s %s\n# TYPE tinybms_%s %s\n", name, help, name, type);
}

/* A sample; NaN/inf values are omitted (unknown is not zero). */
static void val(mb_t *m, const char *name, const char *labels, double v)
{
    if (!isfinite(v)) {
        return;
    }
    /* integers exactly; measurements with the 7 significant digits a float carries */
    char num[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(num, sizeof num, "%.0f", v);
    } else {
        snprintf(num, sizeof num, "%.7g", v);
    }
    if (labels && labels[0]) {
        put(m, "tinybms_%s{%s} %s\n", name, labels, num);
    } else {
        put(m, "tinybms_%s %s\n", name, num);
    }
}

static void gauge(mb_t *m, const char *name, const char *help, double v)
{
    if (!isfinite(v)) {
        return;
    }
    head(m, name, "gauge", help);
    val(m, name, NULL, v);
}

static void counter(mb_t *m, const char *name, const char *help, double v)
{
    head(m, name, "counter", help);
    val(m, name, NULL, v);
}

static void bms(mb_t *m, const gw_view_t *v)
{
    const bms_live_t *l = &v->snap.live;
    gauge(m, "bms_data_valid", "1 when the TinyBMS live block has been read and decoded.", l->valid ? 1 : 0);
    if (!l->valid) {
        return;
    }
    gauge(m, "bms_data_age_seconds", "Age of the TinyBMS live data.", (double)(uint32_t)(v->t_ms - l->t_ms) / 1000.0);
    gauge(m, "pack_voltage_volts", "Battery pack voltage.", (double)l->pack_voltage_v);
    gauge(m, "pack_current_amperes", "Battery current, positive when charging.", (double)l->pack_current_a);
    gauge(m, "pack_power_watts", "Battery power, positive when charging.", (double)(l->pack_voltage_v * l->pack_current_a));
    gauge(m, "soc_percent", "State of charge reported by the TinyBMS.", (double)l->soc_pct);
    gauge(m, "soh_percent", "State of health reported by the TinyBMS.", (double)l->soh_pct);
    gauge(m, "cell_count", "Series cells detected by the TinyBMS.", l->cell_count);
    head(m, "cell_voltage_volts", "gauge", "Voltage of each series cell (cell 1 = bottom).");
    char lab[48];
    for (unsigned i = 0; i < l->cell_count && i < BMS_MAX_CELLS; i++) {
        snprintf(lab, sizeof lab, "cell=\"%u\"", i + 1u);
        val(m, "cell_voltage_volts", lab, (double)l->cell_v[i]);
    }
    head(m, "cell_balancing_active", "gauge", "1 while the cell's balancing resistor is on.");
    for (unsigned i = 0; i < l->cell_count && i < 16u; i++) {
        snprintf(lab, sizeof lab, "cell=\"%u\"", i + 1u);
        val(m, "cell_balancing_active", lab, (l->balancing_active >> i) & 1u);
    }
    head(m, "cell_balancing_needed", "gauge", "1 when the TinyBMS wants to balance the cell.");
    for (unsigned i = 0; i < l->cell_count && i < 16u; i++) {
        snprintf(lab, sizeof lab, "cell=\"%u\"", i + 1u);
        val(m, "cell_balancing_needed", lab, (l->balancing_needed >> i) & 1u);
    }
    gauge(m, "cell_min_volts", "Lowest cell voltage.", (double)l->min_cell_v);
    gauge(m, "cell_max_volts", "Highest cell voltage.", (double)l->max_cell_v);
    gauge(m, "cell_spread_volts", "Highest minus lowest cell voltage.", (double)(l->max_cell_v - l->min_cell_v));
    head(m, "temperature_celsius", "gauge", "Temperatures measured by the TinyBMS.");
    val(m, "temperature_celsius", "sensor=\"internal\"", (double)l->temp_internal_c);
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (l->temp_ext_present[i]) {
            snprintf(lab, sizeof lab, "sensor=\"external_%u\"", i + 1u);
            val(m, "temperature_celsius", lab, (double)l->temp_ext_c[i]);
        }
    }
    head(m, "bms_status", "gauge", "TinyBMS online status (1 for the current one).");
    snprintf(lab, sizeof lab, "status=\"%s\"", bms_status_name(l->status));
    val(m, "bms_status", lab, 1);
    gauge(m, "bms_lifetime_seconds", "TinyBMS lifetime counter.", l->lifetime_s);
    const bms_stats_t *s = &v->snap.stats;
    if (s->valid) {
        head(m, "bms_stat_events_total", "counter", "TinyBMS lifetime statistics: protection events by kind.");
        val(m, "bms_stat_events_total", "kind=\"under_voltage\"", s->under_voltage_count);
        val(m, "bms_stat_events_total", "kind=\"over_voltage\"", s->over_voltage_count);
        val(m, "bms_stat_events_total", "kind=\"discharge_over_current\"", s->discharge_oc_count);
        val(m, "bms_stat_events_total", "kind=\"charge_over_current\"", s->charge_oc_count);
        val(m, "bms_stat_events_total", "kind=\"over_heat\"", s->over_heat_count);
        counter(m, "bms_stat_charging_total", "TinyBMS lifetime statistics: charging cycles started.", s->charging_count);
        counter(m, "bms_stat_full_charges_total", "TinyBMS lifetime statistics: full charges.", s->full_charge_count);
    }
}

static void limits(mb_t *m, const gw_view_t *v)
{
    const chg_limits_t *l = &v->limits;
    gauge(m, "limits_valid", "1 when the charge limits are valid (0x351 may be sent).", l->valid ? 1 : 0);
    gauge(m, "can_transmit", "1 while the CAN output may transmit (stale-data policy).", l->transmit ? 1 : 0);
    gauge(m, "limit_cvl_volts", "Charge voltage limit (CVL) sent to the GX.", (double)l->cvl_v);
    gauge(m, "limit_ccl_amperes", "Charge current limit (CCL) sent to the GX.", (double)l->ccl_a);
    gauge(m, "limit_dcl_amperes", "Discharge current limit (DCL) sent to the GX.", (double)l->dcl_a);
    gauge(m, "limit_dvl_volts", "Discharge voltage limit sent to the GX.", (double)l->dvl_v);
    gauge(m, "charge_stopped", "1 while charging is stopped (CCL 0 and CVL at the pack voltage).", l->charge_stopped ? 1 : 0);
    gauge(m, "discharge_stopped", "1 while discharging is stopped (DCL 0).", l->discharge_stopped ? 1 : 0);
    head(m, "charge_state", "gauge", "Charge controller state (1 for the current one).");
    char lab[64];
    for (unsigned i = 0; i < CHG_STATE_COUNT; i++) {
        snprintf(lab, sizeof lab, "state=\"%s\"", chg_state_name((chg_state_t)i));
        val(m, "charge_state", lab, l->state == (chg_state_t)i ? 1 : 0);
    }
    head(m, "data_state", "gauge", "Stale-data policy state of the BMS data (1 for the current one).");
    for (unsigned i = 0; i < FAILSAFE_DATA_COUNT; i++) {
        snprintf(lab, sizeof lab, "state=\"%s\"", failsafe_data_name((failsafe_data_t)i));
        val(m, "data_state", lab, l->data == (failsafe_data_t)i ? 1 : 0);
    }
    head(m, "limit_binding", "gauge", "The limiter that binds each limit (1 for the current one).");
    snprintf(lab, sizeof lab, "limit=\"cvl\",limiter=\"%s\"", chg_limiter_name(l->cvl_lim));
    val(m, "limit_binding", lab, 1);
    snprintf(lab, sizeof lab, "limit=\"ccl\",limiter=\"%s\"", chg_limiter_name(l->ccl_lim));
    val(m, "limit_binding", lab, 1);
    snprintf(lab, sizeof lab, "limit=\"dcl\",limiter=\"%s\"", chg_limiter_name(l->dcl_lim));
    val(m, "limit_binding", lab, 1);
}

static void alarms(mb_t *m, const gw_view_t *v)
{
    const alarms_out_t *a = &v->alarms;
    head(m, "alarm_level", "gauge", "Alarm level per Victron category: 0 ok, 1 warning, 2 alarm, 3 not evaluated.");
    char lab[64];
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        snprintf(lab, sizeof lab, "category=\"%s\"", alarms_category_name((alarm_id_t)i));
        val(m, "alarm_level", lab, a->set.level[i]);
    }
    gauge(m, "alarms_active", "Categories at alarm level.", a->active_alarms);
    gauge(m, "warnings_active", "Categories at warning level.", a->active_warnings);
}

static void link(mb_t *m, const gw_view_t *v)
{
    const tb_link_stats_t *s = &v->link;
    gauge(m, "link_up", "1 while the TinyBMS answers.", s->link_up ? 1 : 0);
    if (s->ever_replied) {
        gauge(m, "link_last_reply_age_seconds", "Time since the TinyBMS last answered.",
              (double)(uint32_t)(v->t_ms - s->last_reply_ms) / 1000.0);
    }
    head(m, "link_events_total", "counter", "TinyBMS UART link statistics by kind.");
    static const char *const kinds[] = {"requests", "replies", "timeouts", "retries", "wakeups", "nacks",
                                        "unexpected", "duplicates", "late_replies", "decode_errors",
                                        "readback_mismatch", "bms_restarts", "crc_errors", "garbage_bytes",
                                        "truncated"};
    const uint32_t vals[] = {s->requests, s->replies, s->timeouts, s->retries, s->wakeups, s->nacks,
                             s->unexpected, s->duplicates, s->late_replies, s->decode_errors,
                             s->readback_mismatch, s->bms_restarts, s->rx.crc_errors, s->rx.garbage_bytes,
                             s->rx.truncated};
    char lab[64];
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        snprintf(lab, sizeof lab, "kind=\"%s\"", kinds[i]);
        val(m, "link_events_total", lab, vals[i]);
    }
    gauge(m, "link_consecutive_failures", "Failed transactions in a row.", s->consecutive_failures);
    head(m, "link_rtt_seconds", "histogram", "Round-trip time from a request to the TinyBMS's reply.");
    uint64_t cum = 0;
    for (unsigned i = 0; i < TB_RTT_BUCKETS; i++) {
        cum += s->rtt_hist[i];
        if (i < TB_RTT_BUCKETS - 1u) {
            snprintf(lab, sizeof lab, "le=\"%g\"", (double)tb_rtt_bucket_ms[i] / 1000.0);
        } else {
            snprintf(lab, sizeof lab, "le=\"+Inf\"");
        }
        put(m, "tinybms_link_rtt_seconds_bucket{%s} %llu\n", lab, (unsigned long long)cum);
    }
    /* the sum is not recorded by the poller; the count is exact */
    put(m, "tinybms_link_rtt_seconds_count %llu\n", (unsigned long long)cum);
}

static void can(mb_t *m, const gw_view_t *v)
{
    const can_sched_counters_t *n = &v->can;
    gauge(m, "can_port_open", "1 while the CAN port is open.", v->can_port_open ? 1 : 0);
    gauge(m, "can_port_error", "1 while the CAN port reports a problem (can.port_error in GET /api/status).",
          v->can_port_error[0] ? 1 : 0);
    head(m, "can_mode", "gauge", "CAN output mode (1 for the current one).");
    char lab[64];
    snprintf(lab, sizeof lab, "mode=\"%s\"", v->can_mode);
    val(m, "can_mode", lab, 1);
    head(m, "can_frames_total", "counter", "CAN frames by outcome.");
    static const char *const kinds[] = {"tx", "tx_error", "shadow", "encode_error", "refused", "stopped",
                                        "rx", "rx_conflict", "rx_other", "rx_gx_keepalive", "rx_gx_inverter"};
    const uint32_t vals[] = {n->tx_frames, n->tx_errors, n->shadow_frames, n->encode_errors, n->refused, n->stopped,
                             n->rx_frames, n->rx_conflicts, n->rx_other, n->rx_gx_keepalive, n->rx_gx_inverter};
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        snprintf(lab, sizeof lab, "kind=\"%s\"", kinds[i]);
        val(m, "can_frames_total", lab, vals[i]);
    }
    head(m, "can_frame_sent_total", "counter", "Frames handed to the bus per CAN id.");
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        const can_sched_slot_t *s = &v->can_slots[i];
        if (s->id) {
            snprintf(lab, sizeof lab, "id=\"0x%03X\"", (unsigned)s->id);
            val(m, "can_frame_sent_total", lab, s->sent);
        }
    }
    head(m, "can_frame_age_seconds", "gauge", "Time since each CAN id was last computed (sent or shadowed).");
    for (unsigned i = 0; i < CAN_SCHED_SLOTS; i++) {
        const can_sched_slot_t *s = &v->can_slots[i];
        if (s->id && s->has_last) {
            snprintf(lab, sizeof lab, "id=\"0x%03X\"", (unsigned)s->id);
            val(m, "can_frame_age_seconds", lab, (double)(uint32_t)(v->t_ms - s->last_ms) / 1000.0);
        }
    }
    gauge(m, "gx_present", "1 while a Victron GX is seen on the bus (0x305/0x307).", v->gx_present ? 1 : 0);
    if (v->gx_age_ms != UINT32_MAX) {
        gauge(m, "gx_last_seen_seconds", "Time since the GX was last seen.", (double)v->gx_age_ms / 1000.0);
    }
}

static void energy(mb_t *m, const gw_view_t *v)
{
    if (!v->energy_known) {
        return;
    }
    counter(m, "energy_charged_wh_total", "Energy into the battery since the counters were created.", v->energy_in_wh);
    counter(m, "energy_discharged_wh_total", "Energy out of the battery since the counters were created.",
            v->energy_out_wh);
    counter(m, "energy_save_errors_total", "Failed saves of the energy counters (disk full, I/O error).",
            v->energy_save_errors);
    const energy_days_t *d = &v->energy_days;
    if (d->clock_known) { /* a day is only known with the wall clock */
        double in, out;
        energy_days_sum(d, d->today, d->today, &in, &out);
        gauge(m, "energy_today_charged_wh", "Energy into the battery today (the gateway's local day).", in);
        gauge(m, "energy_today_discharged_wh", "Energy out of the battery today (the gateway's local day).", out);
    }
}

static void service(mb_t *m, const metrics_extra_t *x)
{
    const api_counters_t *c = x->api;
    char lab[64];
    if (c) {
        counter(m, "http_requests_total", "HTTP requests answered.", (double)atomic_load(&c->requests));
        head(m, "http_responses_total", "counter", "HTTP responses by status class.");
        for (unsigned i = 1; i <= 5u; i++) {
            snprintf(lab, sizeof lab, "class=\"%ux\"", i);
            put(m, "tinybms_http_responses_total{%s} %llu\n", lab, (unsigned long long)atomic_load(&c->by_class[i]));
        }
        head(m, "http_rejected_total", "counter", "Requests refused, by reason; each changed nothing.");
        for (unsigned i = 0; i < API_REJ_COUNT; i++) {
            snprintf(lab, sizeof lab, "reason=\"%s\"", api_reject_name((api_reject_t)i));
            put(m, "tinybms_http_rejected_total{%s} %llu\n", lab, (unsigned long long)atomic_load(&c->rejected[i]));
        }
        counter(m, "http_commands_total", "Commands sent to the gateway's owner thread.", (double)atomic_load(&c->commands));
        head(m, "ws_protocol_errors_total", "counter",
             "WebSocket connections closed for a client's protocol violation (RFC 6455 close code 1002, "
             "1003, 1007 or 1009), by reason.");
        for (unsigned i = 0; i < WS_RX_ERR_COUNT; i++) {
            snprintf(lab, sizeof lab, "reason=\"%s\"", ws_rx_err_name((ws_rx_err_t)i));
            put(m, "tinybms_ws_protocol_errors_total{%s} %llu\n", lab, (unsigned long long)atomic_load(&c->ws_failed[i]));
        }
        counter(m, "bms_writes_total", "TinyBMS settings written and read back through the API.",
                (double)atomic_load(&c->bms_writes_ok));
    }
    const auth_counters_t *au = &x->auth;
    head(m, "auth_attempts_total", "counter", "Login, set-up and password-change attempts by result.");
    val(m, "auth_attempts_total", "result=\"ok\"", (double)au->login_ok + au->setup_ok + au->change_ok);
    val(m, "auth_attempts_total", "result=\"failed\"", (double)au->login_failed + au->setup_failed + au->change_failed);
    val(m, "auth_attempts_total", "result=\"rate_limited\"", (double)au->rate_limited + au->busy);
    head(m, "auth_events_total", "counter", "Security events, each also written to the log (never rate-limited).");
    const struct {
        const char *ev;
        uint32_t n;
    } evs[] = {{"login", au->login_ok},
               {"login_failed", au->login_failed},
               {"setup", au->setup_ok},
               {"setup_failed", au->setup_failed},
               {"password_changed", au->change_ok},
               {"password_change_failed", au->change_failed},
               {"logout", au->logouts},
               {"session_expired", au->sessions_expired},
               {"session_evicted", au->sessions_evicted},
               {"session_closed", au->sessions_closed},
               {"backed_off", au->rate_limited},
               {"busy", au->busy},
               {"untracked", au->untracked}};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        snprintf(lab, sizeof lab, "event=\"%s\"", evs[i].ev);
        put(m, "tinybms_auth_events_total{%s} %lu\n", lab, (unsigned long)evs[i].n);
    }
    gauge(m, "auth_tracked_addresses", "Client addresses (IPv6: /64) in the login throttling table.", au->tracked_keys);
    gauge(m, "auth_throttled_addresses", "Addresses past their free login failures (backed off, budget-limited).",
          au->throttled_keys);
    gauge(m, "auth_sessions_active", "Open admin sessions.", x->auth.active_sessions);
    gauge(m, "ws_clients", "Connected WebSocket clients.", x->ws_clients);
    counter(m, "ws_messages_total", "WebSocket messages sent.", (double)x->ws_sent);
    counter(m, "ws_updates_skipped_total", "Live updates a slow WebSocket client skipped (latest value wins).",
            (double)x->ws_skipped);
    counter(m, "ws_clients_dropped_total", "WebSocket clients disconnected because they stopped reading.",
            (double)x->ws_dropped);
    head(m, "log_lines_total", "counter", "Log lines by level (after rate limiting).");
    static const char *const lv[] = {"error", "warn", "info", "debug"};
    for (unsigned i = 0; i < 4u; i++) {
        snprintf(lab, sizeof lab, "level=\"%s\"", lv[i]);
        put(m, "tinybms_log_lines_total{%s} %llu\n", lab, (unsigned long long)x->log_lines[i]);
    }
    counter(m, "log_suppressed_total", "Repeated log lines suppressed by the rate limiter.", (double)x->log_suppressed);
    counter(m, "log_security_lines_total", "Security log lines (logins, changes, sessions; never rate-limited).",
            (double)x->log_security);
    gauge(m, "web_uptime_seconds", "Time since the web service started.", x->uptime_s);
    const api_platform_t *pf = x->platform;
    if (pf) {
        gauge(m, "heap_free_bytes", "Free heap of the firmware now.", pf->heap_free);
        gauge(m, "heap_min_free_bytes", "Lowest free heap of the firmware since it started.", pf->heap_min_free);
        gauge(m, "heap_largest_block_bytes", "Largest free heap block (fragmentation).", pf->heap_largest);
        head(m, "task_stack_free_bytes", "gauge", "Stack a firmware task never used since it started (high-water mark).");
        for (uint32_t i = 0; i < pf->ntasks && i < API_TASKS_MAX; i++) {
            snprintf(lab, sizeof lab, "task=\"%s\"", pf->task[i].name);
            put(m, "tinybms_task_stack_free_bytes{%s} %lu\n", lab, (unsigned long)pf->task[i].stack_free);
        }
        if (x->api) {
            head(m, "ota_uploads_total", "counter",
                 "Firmware uploads (POST /api/system/ota) by outcome; a refused one changed nothing.");
            for (unsigned i = 0; i < API_OTA_COUNT; i++) {
                snprintf(lab, sizeof lab, "result=\"%s\"", api_ota_result_name((api_ota_result_t)i));
                put(m, "tinybms_ota_uploads_total{%s} %llu\n", lab, (unsigned long long)atomic_load(&((const api_counters_t *)x->api)->ota[i]));
            }
        }
        if (pf->has_resets) {
            head(m, "resets_total", "counter",
                 "Resets of the firmware by cause, counted across restarts since its storage was erased.");
            val(m, "resets_total", "reason=\"brownout\"", pf->resets_brownout);
            val(m, "resets_total", "reason=\"panic\"", pf->resets_panic);
            val(m, "resets_total", "reason=\"watchdog\"", pf->resets_watchdog);
        }
        if (pf->has_can_bus) {
            counter(m, "can_bus_off_total", "Times the CAN controller went bus-off since start.", (double)pf->can_bus_off);
            counter(m, "can_bus_recoveries_total", "Recoveries from bus-off since start.", (double)pf->can_recoveries);
            counter(m, "can_error_passive_total", "Times the CAN controller became error-passive since start.",
                    (double)pf->can_error_passive);
            counter(m, "can_error_warning_total", "Times the CAN controller reached its error-warning limit since start.",
                    (double)pf->can_error_warning);
        }
    }
}

int metrics_render(const gw_view_t *v, const metrics_extra_t *x, char *buf, size_t cap)
{
    mb_t m = {buf, cap, 0, cap == 0u};
    if (v) {
        gauge(&m, "gateway_uptime_seconds", "Time since the gateway started.", v->uptime_s);
        bms(&m, v);
        limits(&m, v);
        alarms(&m, v);
        link(&m, v);
        can(&m, v);
        energy(&m, v);
        if (v->web.known) {
            gauge(&m, "web_listening", "1 while the web service listens on gateway.http.", v->web.listening ? 1 : 0);
            counter(&m, "web_bind_failures_total",
                    "Attempts to listen on gateway.http that failed (address in use or not on this host).",
                    v->web.bind_failures);
        }
    }
    service(&m, x);
    if (m.overflow) {
        if (cap) {
            buf[0] = '\0';
        }
        return TB_ERR_NOSPACE;
    }
    return (int)m.len;
}

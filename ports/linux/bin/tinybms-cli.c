/* tinybms-cli: talk to a TinyBMS over its UART (docs/cli.md).
 *
 * Exit status: 0 success; 1 the BMS could not be reached or refused (timeout, NACK, I/O error);
 * 2 bad usage or a refused value (nothing was sent for an unknown, read-only or out-of-range
 * setting); 3 a write was acknowledged but the read-back differs.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/bms_json.h"
#include "app/gw_cmd.h"
#include "core/jw.h"
#include "core/tb_poll.h"
#include "core/tb_regs.h"
#include "ports/linux/clock.h"
#include "ports/linux/serial.h"
#include "ports/linux/tb_link.h"

enum { EXIT_COMM = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3 };

typedef struct {
    const char *device;
    bool json;
    bool verbose;
    bool device_limits;
    bool newest;
    int timeout_ms;
    FILE *trace;
} opts_t;

static tb_poll_t g_poll;
static tb_link_t g_link;
static char g_json[256 * 1024];

static void usage(FILE *f)
{
    fputs("Usage: tinybms-cli --device PATH [options] COMMAND [ARGS]\n"
          "\n"
          "Commands:\n"
          "  live                     cells, pack voltage/current, SOC, temperatures, status\n"
          "  settings                 every settings register (300-343) with unit and range\n"
          "  stats                    lifetime statistics (registers 100-117)\n"
          "  events                   the BMS event log (command 0x12; --newest uses 0x11)\n"
          "  version                  hardware/firmware versions and serial number\n"
          "  get REGISTER             one register, by name or address (see `registers`)\n"
          "  set NAME VALUE           write a setting in its unit (validated, then read back)\n"
          "  reset bms|events|stats   restart the BMS, clear its event log or its statistics\n"
          "  registers                list the register map (no device needed)\n"
          "\n"
          "Options:\n"
          "  -d, --device PATH        serial device of the TinyBMS (e.g. /dev/ttyUSB0)\n"
          "  -j, --json               print one JSON object instead of text\n"
          "  -t, --timeout MS         give up after MS milliseconds per request (default 3000)\n"
          "      --device-limits      also read the BMS's own min/max/default (command 0x1D)\n"
          "      --newest             events: only records not yet reported (command 0x11)\n"
          "      --trace              hex-dump every byte sent and received to stderr\n"
          "  -v, --verbose            print link statistics to stderr at the end\n"
          "  -h, --help               this help\n"
          "      --version            program version\n"
          "\n"
          "Exit status: 0 ok, 1 BMS unreachable or refused, 2 bad usage or refused value, 3 read-back mismatch.\n",
          f);
}

static int emit_json(jw_t *w)
{
    int n = jw_finish(w);
    if (n < 0) {
        fprintf(stderr, "tinybms-cli: internal error: JSON output %s\n", tb_err_str(n));
        return EXIT_COMM;
    }
    puts(g_json);
    return 0;
}

static int comm_fail(const char *what, int rc, const char *err)
{
    const tb_job_result_t *r = tb_poll_job_result(&g_poll);
    if (rc == TB_ERR_NACK) {
        const char *kind = (r->nack_err & TB_NACK_MODBUS_EXCEPTION) ? "Modbus exception"
                           : (r->nack_err == TB_NACK_CRC)           ? "CRC error"
                                                                    : "command error";
        fprintf(stderr, "tinybms-cli: %s: the BMS refused the request (%s, code %u)\n", what, kind,
                (unsigned)(r->nack_err & 0xFFu));
    } else if (rc == TB_ERR_TIMEOUT) {
        fprintf(stderr,
                "tinybms-cli: %s: no valid answer from the BMS (%s). Check the cable (TX/RX crossed, GND), that the "
                "BMS is powered, and that no other program uses the port.\n",
                what, err && *err ? err : "timeout");
    } else {
        fprintf(stderr, "tinybms-cli: %s: %s\n", what, err && *err ? err : tb_err_str(rc));
    }
    return EXIT_COMM;
}

static int run(const opts_t *o, const tb_job_t *job, const char *what)
{
    char err[256] = "";
    int rc = tb_link_run_job(&g_link, job, o->timeout_ms, err, sizeof err);
    if (rc != TB_OK && rc != TB_ERR_MISMATCH) {
        comm_fail(what, rc, err);
    }
    return rc;
}

static int read_block(const opts_t *o, tb_block_t b)
{
    tb_job_t j = {.type = TB_JOB_READ_BLOCK, .block = b};
    int rc = run(o, &j, tb_block_name(b));
    tb_poll_job_clear(&g_poll);
    if (rc == TB_ERR_RANGE) {
        fprintf(stderr, "tinybms-cli: the %s registers came back with implausible content (see --trace)\n",
                tb_block_name(b));
    }
    return rc;
}

/* Read the 0x1D min/max/default tables; failure is not fatal (older firmware, bridges). */
static void read_device_limits(const opts_t *o)
{
    static const uint8_t opts[3] = {TB_SETTINGS_MIN, TB_SETTINGS_MAX, TB_SETTINGS_DEFAULT};
    tb_settings_limits_t *lim = &g_poll.limits;
    uint16_t *dst[3] = {lim->min, lim->max, lim->def};
    for (unsigned i = 0; i < 3; i++) {
        tb_job_t j = {.type = TB_JOB_SETTINGS_QUERY, .option = opts[i], .count = BMS_SETTINGS_COUNT};
        char err[256] = "";
        int rc = tb_link_run_job(&g_link, &j, o->timeout_ms, err, sizeof err);
        tb_poll_job_clear(&g_poll);
        if (rc != TB_OK) {
            fprintf(stderr, "tinybms-cli: note: this BMS did not answer command 0x1D (%s); showing documented ranges only\n",
                    tb_err_str(rc));
            lim->valid = false;
            return;
        }
        memcpy(dst[i], tb_poll_job_result(&g_poll)->regs, BMS_SETTINGS_COUNT * sizeof(uint16_t));
    }
    lim->valid = true;
}

/* ---- live ----------------------------------------------------------------------------------- */

static void print_duration(const char *label, uint32_t s)
{
    printf("%s%u h %02u min", label, s / 3600u, (s / 60u) % 60u);
}

static int cmd_live(const opts_t *o)
{
    int rc = read_block(o, TB_BLK_LIVE);
    if (rc != TB_OK) {
        return EXIT_COMM;
    }
    const bms_live_t *l = &g_poll.snap.live;
    uint32_t now = linux_now_ms();
    if (o->json) {
        jw_t w;
        jw_init(&w, g_json, sizeof g_json);
        bms_json_live(&w, l, now);
        return emit_json(&w);
    }
    printf("Pack         %.3f V   %+.2f A   %+.1f W\n", (double)l->pack_voltage_v, (double)l->pack_current_a,
           (double)(l->pack_voltage_v * l->pack_current_a));
    printf("SOC          %.2f %%", (double)l->soc_pct);
    if (isfinite(l->soh_pct)) {
        printf("   SOH %.1f %%", (double)l->soh_pct);
    }
    printf("\nStatus       %s (0x%02X)\n", bms_status_name(l->status), l->status_raw);
    printf("Cells (%2u)   min %.3f V   max %.3f V   spread %.0f mV   (* = balancing)\n", l->cell_count,
           (double)l->min_cell_v, (double)l->max_cell_v, (double)((l->max_cell_v - l->min_cell_v) * 1000.0f));
    for (unsigned i = 0; i < l->cell_count; i++) {
        printf("%s%3u %.4f V%c", i % 4 == 0 ? "            " : "  ", i + 1, (double)l->cell_v[i],
               (l->balancing_active >> i) & 1u ? '*' : ' ');
        if (i % 4 == 3 || i + 1 == l->cell_count) {
            putchar('\n');
        }
    }
    printf("Temperature  internal %.1f °C", (double)l->temp_internal_c);
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (l->temp_ext_present[i]) {
            printf("   external %u %.1f °C", i + 1, (double)l->temp_ext_c[i]);
        } else {
            printf("   external %u none", i + 1);
        }
    }
    putchar('\n');
    print_duration("BMS uptime   ", l->lifetime_s);
    print_duration("   estimated time left ", l->time_left_s);
    putchar('\n');
    return 0;
}

/* ---- settings / get -------------------------------------------------------------------------- */

static void print_value(const tb_reg_t *r, const uint16_t *words)
{
    printf("%.*f", (int)tb_reg_decimals(r), tb_reg_decode(r, words));
}

static void print_range(const tb_reg_t *r, int64_t lo, int64_t hi)
{
    unsigned d = tb_reg_decimals(r);
    printf("%.*f..%.*f", (int)d, (double)lo * (double)tb_reg_scale(r), (int)d, (double)hi * (double)tb_reg_scale(r));
}

static int cmd_settings(const opts_t *o)
{
    if (read_block(o, TB_BLK_SETTINGS) != TB_OK) {
        return EXIT_COMM;
    }
    if (o->device_limits) {
        read_device_limits(o);
    }
    const bms_settings_t *s = &g_poll.snap.settings;
    const tb_settings_limits_t *lim = g_poll.limits.valid ? &g_poll.limits : NULL;
    if (o->json) {
        jw_t w;
        jw_init(&w, g_json, sizeof g_json);
        bms_json_settings(&w, s, lim, linux_now_ms());
        return emit_json(&w);
    }
    printf("%-4s %-34s %12s %-5s  %s\n", "reg", "name", "value", "unit", lim ? "range (document) / BMS min..max, default" : "range (document)");
    for (size_t i = 0; i < tb_regs_count; i++) {
        const tb_reg_t *r = &tb_regs[i];
        if (r->group != TB_GRP_SETTINGS) {
            continue;
        }
        const uint16_t *w = &s->raw[r->addr - BMS_SETTINGS_FIRST];
        printf("%-4u %-34s %12.*f %-5s  ", r->addr, tb_reg_name(r), (int)tb_reg_decimals(r), tb_reg_decode(r, w), tb_reg_unit(r));
        if (r->flags & TB_REGF_RANGE) {
            print_range(r, tb_reg_min(r), tb_reg_max(r));
        }
        if (lim && r->words == 1u) {
            unsigned k = (unsigned)(r->addr - BMS_SETTINGS_FIRST);
            bool sg = r->type == TB_T_INT16;
            printf(" / ");
            print_range(r, sg ? (int16_t)lim->min[k] : lim->min[k], sg ? (int16_t)lim->max[k] : lim->max[k]);
            printf(", %.*f", (int)tb_reg_decimals(r), (double)(sg ? (int16_t)lim->def[k] : lim->def[k]) * (double)tb_reg_scale(r));
        }
        putchar('\n');
    }
    return 0;
}

static const tb_reg_t *lookup_or_complain(const char *name)
{
    const tb_reg_t *r = tb_reg_lookup(name);
    if (!r) {
        fprintf(stderr, "tinybms-cli: unknown register '%s' (run `tinybms-cli registers` for the list)\n", name);
    }
    return r;
}

static int cmd_get(const opts_t *o, const char *name)
{
    const tb_reg_t *r = lookup_or_complain(name);
    if (!r) {
        return EXIT_USAGE;
    }
    tb_job_t j = {.type = TB_JOB_READ_REGS, .addr = r->addr, .count = r->words};
    if (run(o, &j, "get") != TB_OK) {
        return EXIT_COMM;
    }
    const uint16_t *w = tb_poll_job_result(&g_poll)->regs;
    if (o->json) {
        jw_t jw;
        jw_init(&jw, g_json, sizeof g_json);
        bms_json_register(&jw, r, w, NULL);
        return emit_json(&jw);
    }
    printf("%s (%u) = ", tb_reg_name(r), r->addr);
    print_value(r, w);
    printf(" %s   raw 0x%04X", tb_reg_unit(r), w[0]);
    if (r->words == 2u) {
        printf(" 0x%04X", w[1]);
    }
    putchar('\n');
    if (tb_reg_values(r)) {
        printf("  %s\n", tb_reg_values(r));
    }
    return 0;
}

/* Strict number parsing: the whole argument must be a finite number. */
static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

/* Validation that needs no device: returns 0 or EXIT_USAGE with a message. */
static int precheck_set(const char *name, const char *value, const tb_reg_t **reg, double *v, uint16_t words[2])
{
    const tb_reg_t *r = lookup_or_complain(name);
    if (!r) {
        return EXIT_USAGE;
    }
    if (!parse_number(value, v)) {
        fprintf(stderr, "tinybms-cli: '%s' is not a number\n", value);
        return EXIT_USAGE;
    }
    const char *why = NULL;
    int rc = tb_reg_encode(r, *v, NULL, words, &why);
    if (rc != TB_OK) {
        fprintf(stderr, "tinybms-cli: refused: %s = %s %s: %s", tb_reg_name(r), value, tb_reg_unit(r), why);
        if (rc == TB_ERR_RANGE && (r->flags & TB_REGF_RANGE)) {
            fprintf(stderr, " (allowed ");
            unsigned d = tb_reg_decimals(r);
            fprintf(stderr, "%.*f..%.*f %s, step %.*f)", (int)d, (double)tb_reg_min(r) * (double)tb_reg_scale(r), (int)d,
                    (double)tb_reg_max(r) * (double)tb_reg_scale(r), tb_reg_unit(r), (int)d, (double)tb_reg_scale(r));
        }
        fputc('\n', stderr);
        return EXIT_USAGE;
    }
    *reg = r;
    return 0;
}

static int cmd_set(const opts_t *o, const tb_reg_t *r, double v)
{
    /* current settings, for the cross-register rules and to show old -> new */
    if (read_block(o, TB_BLK_SETTINGS) != TB_OK) {
        return EXIT_COMM;
    }
    if (o->device_limits) {
        read_device_limits(o);
    }
    uint16_t words[2];
    const char *why = NULL;
    int rc = tb_reg_encode(r, v, g_poll.limits.valid ? &g_poll.limits : NULL, words, &why);
    if (rc != TB_OK) {
        fprintf(stderr, "tinybms-cli: refused: %s: %s\n", tb_reg_name(r), why);
        return EXIT_USAGE;
    }
    uint16_t projected[BMS_SETTINGS_COUNT];
    memcpy(projected, g_poll.snap.settings.raw, sizeof projected);
    unsigned idx = (unsigned)(r->addr - BMS_SETTINGS_FIRST);
    uint16_t old[2] = {0, 0};
    if (idx < BMS_SETTINGS_COUNT) {
        for (unsigned i = 0; i < r->words && idx + i < BMS_SETTINGS_COUNT; i++) {
            old[i] = projected[idx + i];
            projected[idx + i] = words[i];
        }
        if (tb_settings_check(projected, &why) != TB_OK) {
            fprintf(stderr, "tinybms-cli: refused: %s = %g %s would break a settings rule: %s\n", tb_reg_name(r), v, tb_reg_unit(r), why);
            return EXIT_USAGE;
        }
    }
    tb_job_t j = {.type = TB_JOB_WRITE, .addr = r->addr, .count = r->words};
    memcpy(j.values, words, r->words * sizeof(uint16_t));
    rc = run(o, &j, "set");
    const tb_job_result_t *res = tb_poll_job_result(&g_poll);
    if (rc != TB_OK && rc != TB_ERR_MISMATCH) {
        return EXIT_COMM;
    }
    if (o->json) {
        jw_t w;
        jw_init(&w, g_json, sizeof g_json);
        jw_obj_begin(&w);
        jw_kv_str(&w, "register", tb_reg_name(r));
        jw_kv_uint(&w, "address", r->addr);
        jw_kv_str(&w, "unit", tb_reg_unit(r));
        jw_key(&w, "old");
        jw_double(&w, tb_reg_decode(r, old), tb_reg_decimals(r));
        jw_key(&w, "new");
        jw_double(&w, tb_reg_decode(r, words), tb_reg_decimals(r));
        jw_kv_uint(&w, "raw", words[0]);
        if (res->restarting) {
            jw_kv_null(&w, "read_back");
            jw_kv_str(&w, "result", "ok_bms_restarting");
        } else {
            jw_key(&w, "read_back");
            jw_double(&w, tb_reg_decode(r, res->regs), tb_reg_decimals(r));
            jw_kv_str(&w, "result", rc == TB_OK ? "ok" : "readback_mismatch");
        }
        jw_obj_end(&w);
        emit_json(&w);
    } else {
        printf("%s (%u): ", tb_reg_name(r), r->addr);
        print_value(r, old);
        printf(" -> ");
        print_value(r, words);
        printf(" %s", tb_reg_unit(r));
        if (res->restarting) {
            printf("   written; the BMS restarts to apply it\n");
        } else if (rc == TB_OK) {
            printf("   read back ");
            print_value(r, res->regs);
            printf(" %s: ok\n", tb_reg_unit(r));
        } else {
            printf("   READ BACK ");
            print_value(r, res->regs);
            printf(" %s: MISMATCH\n", tb_reg_unit(r));
        }
    }
    if (rc == TB_ERR_MISMATCH) {
        fprintf(stderr, "tinybms-cli: the BMS acknowledged the write but holds a different value\n");
        return EXIT_MISMATCH;
    }
    return 0;
}

/* ---- stats / events / version / reset / registers ------------------------------------------ */

static int cmd_stats(const opts_t *o)
{
    if (read_block(o, TB_BLK_STATS) != TB_OK) {
        return EXIT_COMM;
    }
    const bms_stats_t *s = &g_poll.snap.stats;
    jw_t w;
    jw_init(&w, g_json, sizeof g_json);
    bms_json_stats(&w, s, linux_now_ms());
    if (o->json) {
        return emit_json(&w);
    }
    printf("Max discharge current seen   %.1f A\n", (double)s->max_discharge_current_a);
    printf("Max charge current seen      %.1f A\n", (double)s->max_charge_current_a);
    printf("Max cell difference seen     %.1f mV\n", (double)(s->max_cell_diff_v * 1000.0f));
    printf("Pack temperature seen        %d..%d °C\n", s->min_pack_temp_c, s->max_pack_temp_c);
    printf("Protections                  under-voltage %u, over-voltage %u, discharge over-current %u, charge "
           "over-current %u, over-heat %u\n",
           s->under_voltage_count, s->over_voltage_count, s->discharge_oc_count, s->charge_oc_count, s->over_heat_count);
    printf("Charging count               %u (full charges %u)\n", s->charging_count, s->full_charge_count);
    printf("Total distance               %.2f km\n", (double)s->total_distance_km);
    printf("Last reset cause             %s\n", bms_json_reset_cause_text(s->last_reset_cause));
    printf("Last wake-up source          %s\n", bms_json_wake_source_text(s->last_wakeup_source));
    printf("Statistics cleared at        %u s of BMS lifetime\n", s->stats_cleared_s);
    return 0;
}

static int cmd_events(const opts_t *o)
{
    tb_job_t j = {.type = TB_JOB_EVENTS, .option = o->newest ? TB_CMD_EVENTS_NEWEST : TB_CMD_EVENTS_ALL};
    if (run(o, &j, "events") != TB_OK) {
        return EXIT_COMM;
    }
    const bms_events_t *e = &tb_poll_job_result(&g_poll)->events;
    if (o->json) {
        jw_t w;
        jw_init(&w, g_json, sizeof g_json);
        bms_json_events(&w, e, linux_now_ms());
        return emit_json(&w);
    }
    printf("BMS time %u s; %u event(s)\n", e->bms_time_s, e->count);
    for (unsigned i = 0; i < e->count; i++) {
        const bms_event_t *ev = &e->ev[i];
        printf("  %10u s  0x%02X  %-7s  %s\n", ev->timestamp_s, ev->id, bms_event_class_name(bms_event_class(ev->id)),
               bms_json_event_name(ev->id));
    }
    return 0;
}

static int cmd_version(const opts_t *o)
{
    if (read_block(o, TB_BLK_VERSION) != TB_OK) {
        return EXIT_COMM;
    }
    jw_t w;
    jw_init(&w, g_json, sizeof g_json);
    bms_json_version(&w, &g_poll.snap.version, linux_now_ms());
    if (o->json) {
        return emit_json(&w);
    }
    const bms_version_t *v = &g_poll.snap.version;
    printf("Hardware     %u.%u\n", v->hw_version, v->hw_changes);
    printf("Firmware     %u (internal %u), bootloader %u, register map %u\n", v->fw_public, v->fw_internal,
           v->bootloader, v->register_map);
    printf("Board        %s, current sensor: %s\n", v->high_power ? "high power (150 A)" : "low power (30 A)",
           bms_json_current_sensor_text(v->current_sensor));
    printf("Serial       %04X%04X%04X%04X%04X%04X\n", v->serial[0], v->serial[1], v->serial[2], v->serial[3],
           v->serial[4], v->serial[5]);
    return 0;
}

static int cmd_reset(const opts_t *o, const char *what)
{
    uint8_t opt = 0;
    if (!gw_cmd_reset_option(what, &opt)) {
        fprintf(stderr, "tinybms-cli: reset what? expected bms, events or stats, got '%s'\n", what);
        return EXIT_USAGE;
    }
    tb_job_t j = {.type = TB_JOB_RESET, .option = opt};
    if (run(o, &j, "reset") != TB_OK) {
        return EXIT_COMM;
    }
    if (o->json) {
        printf("{\"reset\":\"%s\",\"result\":\"ok\"}\n", what);
    } else {
        printf("reset %s: acknowledged by the BMS%s\n", what, opt == TB_RESET_BMS ? "; it restarts now" : "");
    }
    return 0;
}

static int cmd_registers(const opts_t *o)
{
    if (o->json) {
        jw_t w;
        jw_init(&w, g_json, sizeof g_json);
        jw_arr_begin(&w);
        for (size_t i = 0; i < tb_regs_count; i++) {
            const tb_reg_t *r = &tb_regs[i];
            jw_obj_begin(&w);
            jw_kv_uint(&w, "address", r->addr);
            jw_kv_uint(&w, "words", r->words);
            jw_kv_str(&w, "name", tb_reg_name(r));
            jw_kv_str(&w, "label", tb_reg_label(r));
            jw_kv_str(&w, "group", tb_reg_group_name((tb_reg_group_t)r->group));
            jw_kv_str(&w, "type", tb_reg_type_name((tb_reg_type_t)r->type));
            jw_kv_double(&w, "scale", (double)tb_reg_scale(r), 6);
            jw_kv_str(&w, "unit", tb_reg_unit(r));
            jw_kv_bool(&w, "writable", (r->flags & TB_REGF_WRITABLE) != 0u);
            if (r->flags & TB_REGF_RANGE) {
                jw_kv_double(&w, "min", (double)tb_reg_min(r) * (double)tb_reg_scale(r), tb_reg_decimals(r));
                jw_kv_double(&w, "max", (double)tb_reg_max(r) * (double)tb_reg_scale(r), tb_reg_decimals(r));
            }
            if (tb_reg_values(r)) {
                jw_kv_str(&w, "values", tb_reg_values(r));
            }
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        return emit_json(&w);
    }
    printf("%-4s %-5s %-11s %-9s %-40s %-6s %s\n", "addr", "words", "type", "access", "name", "unit", "range");
    for (size_t i = 0; i < tb_regs_count; i++) {
        const tb_reg_t *r = &tb_regs[i];
        printf("%-4u %-5u %-11s %-9s %-40s %-6s ", r->addr, r->words, tb_reg_type_name((tb_reg_type_t)r->type),
               (r->flags & TB_REGF_WRITABLE) ? "rw" : "ro", tb_reg_name(r), tb_reg_unit(r));
        if (r->flags & TB_REGF_RANGE) {
            print_range(r, tb_reg_min(r), tb_reg_max(r));
        }
        putchar('\n');
    }
    return 0;
}

static void print_link_stats(void)
{
    tb_link_stats_t st;
    tb_poll_stats(&g_poll, &st);
    jw_t w;
    static char buf[4096];
    jw_init(&w, buf, sizeof buf);
    bms_json_link(&w, &st, linux_now_ms());
    if (jw_finish(&w) >= 0) {
        fprintf(stderr, "link: %s\n", buf);
    }
}

/* Options may come before or after the command; a negative number ("-10") is a value, not an
 * option; "--" ends the options. Returns 0, or an exit status to return at once (-1 = ok, exit 0). */
static int parse_args(int argc, char **argv, opts_t *o, char **pos, int *npos, int maxpos)
{
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double num;
        bool is_opt = !opts_done && a[0] == '-' && a[1] != '\0' && !parse_number(a, &num);
        if (!is_opt) {
            if (strcmp(a, "--") == 0 && !opts_done) {
                opts_done = true;
                continue;
            }
            if (*npos >= maxpos) {
                fprintf(stderr, "tinybms-cli: too many arguments (try --help)\n");
                return EXIT_USAGE;
            }
            pos[(*npos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        /* --name=value or --name value */
        char name[32];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) {
            fprintf(stderr, "tinybms-cli: unknown option '%s' (try --help)\n", a);
            return EXIT_USAGE;
        }
        memcpy(name, a, len);
        name[len] = '\0';
        if (eq) {
            val = eq + 1;
        }
        bool needs = strcmp(name, "-d") == 0 || strcmp(name, "--device") == 0 || strcmp(name, "-t") == 0 ||
                     strcmp(name, "--timeout") == 0;
        if (needs && !val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tinybms-cli: option %s needs a value\n", name);
                return EXIT_USAGE;
            }
            val = argv[++i];
        } else if (!needs && val) {
            fprintf(stderr, "tinybms-cli: option %s takes no value\n", name);
            return EXIT_USAGE;
        }
        if (strcmp(name, "-d") == 0 || strcmp(name, "--device") == 0) {
            o->device = val;
        } else if (strcmp(name, "-t") == 0 || strcmp(name, "--timeout") == 0) {
            double t;
            if (!parse_number(val, &t) || t < 10 || t > 600000 || t != floor(t)) {
                fprintf(stderr, "tinybms-cli: --timeout must be a whole number of milliseconds in 10..600000, got '%s'\n",
                        val);
                return EXIT_USAGE;
            }
            o->timeout_ms = (int)t;
        } else if (strcmp(name, "-j") == 0 || strcmp(name, "--json") == 0) {
            o->json = true;
        } else if (strcmp(name, "-v") == 0 || strcmp(name, "--verbose") == 0) {
            o->verbose = true;
        } else if (strcmp(name, "--trace") == 0) {
            o->trace = stderr;
        } else if (strcmp(name, "--device-limits") == 0) {
            o->device_limits = true;
        } else if (strcmp(name, "--newest") == 0) {
            o->newest = true;
        } else if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(name, "--version") == 0) {
            printf("tinybms-cli %s\n", TB_VERSION);
            return -1;
        } else {
            fprintf(stderr, "tinybms-cli: unknown option '%s' (try --help)\n", a);
            return EXIT_USAGE;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = {.timeout_ms = 3000};
    char *pos[8];
    int npos = 0;
    int prc = parse_args(argc, argv, &o, pos, &npos, (int)(sizeof pos / sizeof pos[0]));
    if (prc != 0) {
        return prc < 0 ? 0 : prc;
    }
    if (npos == 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = pos[0];
    char **rest = pos + 1;
    int nrest = npos - 1;

    struct {
        const char *name;
        int nargs;
    } const cmds[] = {{"live", 0}, {"settings", 0}, {"stats", 0}, {"events", 0}, {"version", 0},
                      {"get", 1},  {"set", 2},      {"reset", 1}, {"registers", 0}};
    int found = -1;
    for (int i = 0; i < (int)(sizeof cmds / sizeof cmds[0]); i++) {
        if (strcmp(cmd, cmds[i].name) == 0) {
            found = i;
        }
    }
    if (found < 0) {
        fprintf(stderr, "tinybms-cli: unknown command '%s' (try --help)\n", cmd);
        return EXIT_USAGE;
    }
    if (nrest != cmds[found].nargs) {
        fprintf(stderr, "tinybms-cli: '%s' takes %d argument(s), got %d (try --help)\n", cmd, cmds[found].nargs, nrest);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "registers") == 0) {
        return cmd_registers(&o);
    }

    /* Everything that can be refused without the BMS is refused before the port is opened. */
    const tb_reg_t *set_reg = NULL;
    double set_val = 0;
    if (strcmp(cmd, "set") == 0) {
        uint16_t words[2];
        int rc = precheck_set(rest[0], rest[1], &set_reg, &set_val, words);
        if (rc != 0) {
            return rc;
        }
    } else if (strcmp(cmd, "get") == 0 && !lookup_or_complain(rest[0])) {
        return EXIT_USAGE;
    } else if (strcmp(cmd, "reset") == 0 && strcmp(rest[0], "bms") != 0 && strcmp(rest[0], "events") != 0 &&
               strcmp(rest[0], "stats") != 0) {
        fprintf(stderr, "tinybms-cli: reset what? expected bms, events or stats, got '%s'\n", rest[0]);
        return EXIT_USAGE;
    }

    if (!o.device) {
        fprintf(stderr, "tinybms-cli: --device PATH is required (e.g. --device /dev/ttyUSB0)\n");
        return EXIT_USAGE;
    }
    char err[256];
    int fd = serial_open(o.device, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "tinybms-cli: %s\n", err);
        return EXIT_COMM;
    }
    tb_poll_cfg_t cfg;
    tb_poll_cfg_oneshot(&cfg);
    tb_poll_init(&g_poll, &cfg, linux_now_ms());
    g_link = (tb_link_t){fd, &g_poll, o.trace};

    int rc;
    if (strcmp(cmd, "live") == 0) {
        rc = cmd_live(&o);
    } else if (strcmp(cmd, "settings") == 0) {
        rc = cmd_settings(&o);
    } else if (strcmp(cmd, "stats") == 0) {
        rc = cmd_stats(&o);
    } else if (strcmp(cmd, "events") == 0) {
        rc = cmd_events(&o);
    } else if (strcmp(cmd, "version") == 0) {
        rc = cmd_version(&o);
    } else if (strcmp(cmd, "get") == 0) {
        rc = cmd_get(&o, rest[0]);
    } else if (strcmp(cmd, "set") == 0) {
        rc = cmd_set(&o, set_reg, set_val);
    } else {
        rc = cmd_reset(&o, rest[0]);
    }
    if (o.verbose) {
        print_link_stats();
    }
    close(fd);
    return rc;
}

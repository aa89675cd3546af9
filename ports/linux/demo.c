/* demo: the simulated battery, inverter and GX around the gateway in --demo mode (demo.h). */
#include "ports/linux/demo.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/energy_days.h"
#include "app/log.h"
#include "core/tb_err.h"
#include "core/vcan.h"
#include "ports/linux/fileio.h"

#define DEMO_FILE_MAX 4096u
#define DEMO_CHECK_MS 2000u

static bool persisted(uint16_t addr)
{
    /* not the SOH and SOC presets (they read back 0xFFFF once written) nor the operation mode (a
     * reboot) */
    return addr != 323u && addr != 328u && addr != 340u;
}

/* ---- the state file ---------------------------------------------------------------------------- */

typedef struct {
    bool have_seed, have_soc, have_hour, have_day;
    uint32_t seed;
    unsigned long day;
    double soc, hour;
    size_t n;
    uint16_t addr[SIM_SETTINGS_COUNT], val[SIM_SETTINGS_COUNT];
} saved_t;

static bool parse_u(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') {
        return false;
    }
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end != '\0' || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_d(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

/* 0, or the 1-based number of the first line not understood (one past the end: no seed). */
static size_t parse_state(char *text, saved_t *sv)
{
    memset(sv, 0, sizeof *sv);
    size_t lineno = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        lineno++;
        char *tok[4] = {0};
        size_t nt = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t\r", &save); t && nt < 4u; t = strtok_r(NULL, " \t\r", &save)) {
            tok[nt++] = t;
        }
        unsigned long a, v;
        if (nt == 0u || tok[0][0] == '#') {
            /* blank or comment */
        } else if (nt == 2u && strcmp(tok[0], "seed") == 0 && parse_u(tok[1], 0xFFFFFFFFul, &v)) {
            sv->seed = (uint32_t)v;
            sv->have_seed = true;
        } else if (nt == 2u && strcmp(tok[0], "soc") == 0 && parse_d(tok[1], 0.0, 100.0, &sv->soc)) {
            sv->have_soc = true;
        } else if (nt == 2u && strcmp(tok[0], "hour") == 0 && parse_d(tok[1], 0.0, 24.0, &sv->hour)) {
            sv->have_hour = true;
        } else if (nt == 2u && strcmp(tok[0], "day") == 0 && parse_u(tok[1], DEMO_DAY_MAX, &sv->day)) {
            sv->have_day = true;
        } else if (nt == 3u && strcmp(tok[0], "reg") == 0 && parse_u(tok[1], 399, &a) && a >= SIM_SETTINGS_FIRST &&
                   parse_u(tok[2], 0xFFFF, &v) && sv->n < SIM_SETTINGS_COUNT) {
            if (persisted((uint16_t)a)) {
                sv->addr[sv->n] = (uint16_t)a;
                sv->val[sv->n] = (uint16_t)v;
                sv->n++;
            }
        } else {
            return lineno;
        }
        line = nl ? nl + 1 : NULL;
    }
    return sv->have_seed ? 0u : lineno + 1u;
}

static void read_settings(const demo_t *d, uint16_t out[SIM_SETTINGS_COUNT])
{
    for (uint16_t k = 0; k < SIM_SETTINGS_COUNT; k++) {
        uint16_t v = 0;
        (void)sim_read_register(&d->sim, (uint16_t)(SIM_SETTINGS_FIRST + k), &v);
        out[k] = v;
    }
}

/* The simulated day at model time model_s. */
static int32_t sim_day(const demo_t *d, double model_s)
{
    double days = floor((d->start_hour * 3600.0 + model_s) / 86400.0);
    double day = (double)d->start_day + days;
    return day >= 0.0 && day <= (double)DEMO_DAY_MAX ? (int32_t)day : d->start_day;
}

int32_t demo_day(void *ctx, uint32_t now_ms)
{
    demo_t *d = ctx;
    sim_advance(&d->sim, now_ms);
    sim_truth_t t;
    sim_truth(&d->sim, &t);
    return sim_day(d, t.model_s);
}

void demo_save(demo_t *d, uint32_t now_ms)
{
    sim_advance(&d->sim, now_ms);
    sim_truth_t t;
    sim_truth(&d->sim, &t);
    double hour = fmod(d->start_hour + t.model_s / 3600.0, 24.0);
    int32_t day = sim_day(d, t.model_s);
    uint16_t regs[SIM_SETTINGS_COUNT];
    read_settings(d, regs);
    char buf[DEMO_FILE_MAX];
    int n = snprintf(buf, sizeof buf,
                     "# tinybms-gateway --demo: the simulated TinyBMS, kept across runs. The seed gives its cells\n"
                     "# and serial number. Delete this file for a new battery.\nseed %lu\nsoc %.3f\nday %ld\nhour %.3f\n",
                     (unsigned long)d->seed, t.soc_pct, (long)day, hour);
    for (uint16_t k = 0; k < SIM_SETTINGS_COUNT && n > 0 && (size_t)n < sizeof buf; k++) {
        uint16_t a = (uint16_t)(SIM_SETTINGS_FIRST + k);
        uint16_t def, lo, hi;
        if (!persisted(a) || sim_setting_info(a, &def, &lo, &hi) != SIM_OK || (def == 0 && lo == 0 && hi == 0)) {
            continue; /* reserved */
        }
        n += snprintf(buf + n, sizeof buf - (size_t)n, "reg %u %u\n", (unsigned)a, (unsigned)regs[k]);
    }
    if (n <= 0 || (size_t)n >= sizeof buf) {
        LOGE("demo", "simulated BMS state too long to save");
        return;
    }
    char err[256];
    if (file_save_atomic(d->path, buf, (size_t)n, false, err, sizeof err) != TB_OK) {
        if (!d->save_failing) {
            LOGW("demo", "cannot save the simulated BMS: %s", err);
        }
        d->save_failing = true;
    } else {
        if (d->save_failing) {
            LOGI("demo", "simulated BMS saved again to %s", d->path);
        }
        d->save_failing = false;
    }
    memcpy(d->saved, regs, sizeof regs);
    d->saved_at = now_ms;
}

/* ---- start ------------------------------------------------------------------------------------- */

/* Today on the wall clock (local time), the first simulated day of a new battery; a fixed day when
 * the clock is not set. */
static int32_t wall_day(void)
{
    time_t now = time(NULL);
    int32_t day = now == (time_t)-1 ? ENERGY_DAYS_NO_CLOCK : energy_days_local((uint64_t)now * 1000u);
    return day != ENERGY_DAYS_NO_CLOCK ? day : energy_days_from_civil(2026, 1u, 1u);
}

int demo_init(demo_t *d, const char *state_dir, float cell_bulk_v, uint32_t now)
{
    memset(d, 0, sizeof *d);
    int pn = snprintf(d->path, sizeof d->path, "%s/%s", state_dir, DEMO_STATE_FILE);
    if (pn < 0 || (size_t)pn >= sizeof d->path) {
        LOGE("demo", "state directory path too long");
        return -1;
    }
    static char text[DEMO_FILE_MAX + 1u];
    static saved_t sv;
    size_t len = 0;
    char err[256];
    bool restored = false;
    int rc = file_load(d->path, text, DEMO_FILE_MAX, &len, err, sizeof err);
    if (rc == TB_OK) {
        text[len] = '\0';
        size_t bad = memchr(text, '\0', len) ? 1u : parse_state(text, &sv);
        if (bad) {
            LOGW("demo", "%s: line %zu is not understood; starting a new simulated battery (the file is replaced)",
                 d->path, bad);
        } else {
            restored = true;
        }
    } else if (rc != TB_ERR_NOTFOUND) {
        LOGW("demo", "cannot read %s (%s); starting a new simulated battery", d->path, err);
    }

    sim_config_t sc;
    sim_config_default(&sc);
    sc.cells = DEMO_CELLS;
    sc.capacity_ah = DEMO_CAPACITY_AH;
    sc.soc_pct = restored && sv.have_soc ? sv.soc : DEMO_SOC_PCT;
    sc.speed = DEMO_SPEED;
    d->seed = restored ? sv.seed : (uint32_t)time(NULL);
    sc.seed = d->seed;
    sc.soc_spread_pct = DEMO_SOC_SPREAD_PCT;
    sc.start_ms = now;
    if (sim_init(&d->sim, &sc) != 0) {
        LOGE("demo", "simulator refused its configuration");
        return -1;
    }
    /* a well set-up TinyBMS: "fully charged" at the gateway's absorption target, so the BMS resets
     * its SOC to 100 % when the gateway ends a charge (a saved setting wins) */
    uint16_t full_mv = (uint16_t)(cell_bulk_v * 1000.0f + 0.5f);
    if (sim_write_register(&d->sim, 300, full_mv, now) != 0) {
        LOGW("demo", "simulated TinyBMS refused fully_charged_voltage %u mV", (unsigned)full_mv);
    }
    if (restored && sv.n > 0u) {
        int wr = sim_write_registers(&d->sim, sv.addr, sv.val, sv.n, now);
        if (wr != SIM_OK) {
            LOGW("demo", "%s: the saved settings were refused (%s); the simulated BMS starts on its defaults", d->path,
                 sim_err_str(wr));
        }
    }
    sim_load_t load;
    memset(&load, 0, sizeof load);
    load.kind = SIM_LOAD_DAY;
    load.solar_peak_a = DEMO_PV_PEAK_A;
    load.solar_load_a = DEMO_LOAD_MEAN_A;
    load.start_hour = restored && sv.have_hour && sv.hour < 24.0 ? sv.hour : DEMO_START_HOUR;
    if (sim_set_load(&d->sim, &load, now) != 0) {
        LOGE("demo", "simulator refused the household day");
        return -1;
    }
    d->start_hour = load.start_hour;
    d->start_day = restored && sv.have_day && sv.have_hour ? (int32_t)sv.day : wall_day();
    d->silent_since = now;
    d->gx_next = now;
    d->check_at = now + DEMO_CHECK_MS;
    uint16_t sn[2] = {0, 0};
    (void)sim_read_register(&d->sim, 504, &sn[0]);
    (void)sim_read_register(&d->sim, 505, &sn[1]);
    LOGI("demo", "simulated TinyBMS (%s, serial %04X%04X...): 16 x 280 Ah LiFePO4 at %.0f %% and %02d:%02d, a household "
         "day on solar at %.0fx speed; the simulated inverter obeys CVL/CCL/DCL, a simulated GX sends 0x305/0x307",
         restored ? "restored from " DEMO_STATE_FILE : "new", (unsigned)sn[0], (unsigned)sn[1], sc.soc_pct,
         (int)load.start_hour, (int)(fmod(load.start_hour, 1.0) * 60.0), DEMO_SPEED);
    demo_save(d, now); /* a new battery keeps its seed from now on */
    return 0;
}

/* ---- running ----------------------------------------------------------------------------------- */

static void gx_frames(demo_t *d, gateway_t *gw, can_port_t *can, uint32_t now)
{
    if ((int32_t)(now - d->gx_next) < 0) {
        return;
    }
    d->gx_next = now + DEMO_GX_PERIOD_MS;
    /* VIC21: 0x305 keep-alive with 8 zero bytes; 0x307 12 34 56 78 "VIC" 00 */
    can_frame_t ka = {.id = VCAN_ID_GX_KEEPALIVE, .dlc = 8, .flags = 0, .data = {0}};
    can_frame_t id = {.id = VCAN_ID_GX_INVERTER, .dlc = 8, .flags = 0, .data = {0x12, 0x34, 0x56, 0x78, 'V', 'I', 'C', 0}};
    (void)can_port_log_peer(can, &ka);
    gateway_can_rx(gw, &ka, now);
    (void)can_port_log_peer(can, &id);
    gateway_can_rx(gw, &id, now);
}

void demo_step(demo_t *d, gateway_t *gw, can_port_t *can, uint32_t now)
{
    const chg_limits_t *l = &gw->limits;
    sim_advance(&d->sim, now);
    if (l->valid && l->transmit) {
        sim_set_limits(&d->sim, true, l->cvl_v, l->ccl_a, l->dcl_a, now);
        d->silent_since = now;
    } else if ((uint32_t)(now - d->silent_since) > 3000u) {
        /* a GX without 0x351 for 3 s stops charging and discharging */
        sim_set_limits(&d->sim, true, 0.0, 0.0, 0.0, now);
    }
    uint8_t b[512];
    size_t n;
    while ((n = sim_tx(&d->sim, b, sizeof b, now)) > 0) {
        gateway_uart_rx(gw, b, n, now);
    }
    gx_frames(d, gw, can, now);
    if ((int32_t)(now - d->check_at) >= 0) {
        d->check_at = now + DEMO_CHECK_MS;
        uint16_t regs[SIM_SETTINGS_COUNT];
        read_settings(d, regs);
        if (memcmp(regs, d->saved, sizeof regs) != 0 || (uint32_t)(now - d->saved_at) >= DEMO_SAVE_EVERY_MS) {
            demo_save(d, now);
        }
    }
}

bool demo_uart_pending(const demo_t *d, uint32_t *due_ms)
{
    return sim_tx_pending(&d->sim, due_ms);
}

void demo_uart_rx(demo_t *d, const uint8_t *b, size_t n, uint32_t now_ms)
{
    sim_rx(&d->sim, b, n, now_ms);
}

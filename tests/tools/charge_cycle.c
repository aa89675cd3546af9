/* charge_cycle: a simulated charge cycle as CSV, for the plot in docs/charge-control.md.
 *
 * The simulated TinyBMS (sim/) and the gateway's whole cycle (poller, charge controller, alarms,
 * CAN scheduler) run in one process on a simulated clock (tests/unit/support/scenario_rig.h); a
 * CC/CV charger obeys the 0x351 that went on the bus. Default configuration everywhere, battery
 * in real time (speed 1) unless --speed says otherwise; the program itself runs in seconds.
 *
 *   charge_cycle [--soc PCT] [--hours H] [--float-hours H] [--speed X] [--charger A]
 *                [--spread PCT] [--every S] [--scaled] > cycle.csv
 *
 * Output: '#' lines with the parameters the plot draws as reference lines (key=value), then one
 * CSV row every --every battery seconds: time in battery hours, wire seconds, the BMS's SOC, pack
 * voltage, highest and lowest cell and current (as the gateway read them), CVL/CCL/DCL as the GX
 * decoded them from the last 0x351, and the controller's state. It stops --float-hours after
 * the float target is reached, or at --hours. Exit status 0, or 1 if the run broke an invariant
 * (the scenario oracle) or the simulated BMS had to protect the battery, 2 for bad arguments.
 * Test-only program (built into build/tests/, never installed); `make plot` runs it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_rig.h"

static scen_t R;

static int usage(void)
{
    fprintf(stderr, "usage: charge_cycle [--soc PCT] [--hours H] [--float-hours H] [--speed X] [--charger A] "
                    "[--spread PCT] [--every S] [--scaled]\n");
    return 2;
}

static int num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!s[0] || *end || !(v >= lo && v <= hi)) {
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    double soc = 20.0, hours = 30.0, float_hours = 6.0, speed = 1.0, charger = 80.0, spread = -1.0, every = 30.0;
    bool scaled = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        double *dst = NULL;
        double lo = 0, hi = 0;
        if (strcmp(a, "--scaled") == 0) {
            scaled = true;
            continue;
        } else if (strcmp(a, "--soc") == 0) {
            dst = &soc, lo = 0, hi = 100;
        } else if (strcmp(a, "--hours") == 0) {
            dst = &hours, lo = 0.1, hi = 1000;
        } else if (strcmp(a, "--float-hours") == 0) {
            dst = &float_hours, lo = 0, hi = 1000;
        } else if (strcmp(a, "--speed") == 0) {
            dst = &speed, lo = 0.01, hi = 10000;
        } else if (strcmp(a, "--charger") == 0) {
            dst = &charger, lo = 1, hi = 1000;
        } else if (strcmp(a, "--spread") == 0) {
            dst = &spread, lo = 0, hi = 10;
        } else if (strcmp(a, "--every") == 0) {
            dst = &every, lo = 1, hi = 3600;
        } else {
            return usage();
        }
        if (num(v, lo, hi, dst) != 0) {
            fprintf(stderr, "charge_cycle: %s needs a number in %g..%g\n", a, lo, hi);
            return 2;
        }
        i++;
    }

    scen_opts_t o;
    scen_opts_default(&o);
    o.soc_pct = soc;
    o.speed = speed;
    o.soc_spread_pct = spread;
    o.log_level = LOG_ERROR;
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    if (scaled) {
        scen_config_battery_time(&cfg, speed);
    }
    if (!scen_init(&R, &o, &cfg) || scen_load_charger(&R, charger) != SIM_OK) {
        return 2;
    }

    const chg_config_t *c = &cfg.charge;
    printf("# simulated charge cycle: %u x %.0f Ah LiFePO4 from %.0f %% SOC, %.0f A CC/CV charger obeying 0x351, "
           "battery speed %gx%s\n",
           o.cells, o.capacity_ah, soc, charger, speed, scaled ? " (controller times scaled to battery time)" : "");
    printf("# cells=%u\n# cell_bulk_v=%.3f\n# cell_float_v=%.3f\n# cell_limit_v=%.3f\n# ccl_taper_start_v=%.3f\n"
           "# ccl_taper_end_v=%.3f\n",
           o.cells, (double)c->cell_bulk_v, (double)c->cell_float_v, (double)c->cell_limit_v,
           (double)c->ccl_taper_start_v, (double)c->ccl_taper_end_v);
    printf("t_h,wire_s,soc_pct,pack_v,cell_max_v,cell_min_v,current_a,cvl_v,ccl_a,dcl_a,state\n");

    double next = 0.0;
    double float_since = -1.0;
    float float_cvl = floorf((float)o.cells * c->cell_float_v * 10.0f + 1e-3f) / 10.0f;
    bool ov_printed = false;
    while (scen_model_h(&R) < hours) {
        scen_step(&R);
        double h = scen_model_h(&R);
        if (float_since < 0.0 && R.have351 && R.last351.state == CHG_STATE_FLOAT &&
            fabsf(R.last351.lim.cvl_v - float_cvl) < 0.05f) {
            float_since = h;
        }
        if (h * 3600.0 >= next) {
            next += every;
            const bms_live_t *l = &R.gw.poll.snap.live;
            if (!R.have351 || !bms_snapshot_complete(&R.gw.poll.snap)) {
                continue;
            }
            if (!ov_printed) {
                printf("# bms_over_voltage_v=%.3f\n", (double)R.gw.poll.snap.settings.over_voltage_v);
                ov_printed = true;
            }
            printf("%.4f,%.1f,%.2f,%.3f,%.4f,%.4f,%.2f,%.1f,%.1f,%.1f,%s\n", h, scen_wire_s(&R), (double)l->soc_pct,
                   (double)l->pack_voltage_v, (double)l->max_cell_v, (double)l->min_cell_v, (double)l->pack_current_a,
                   (double)R.last351.lim.cvl_v, (double)R.last351.lim.ccl_a, (double)R.last351.lim.dcl_a,
                   chg_state_name(R.last351.state));
        }
        if (float_since >= 0.0 && h - float_since >= float_hours) {
            break;
        }
    }
    fprintf(stderr, "charge_cycle: %.2f battery hours, %.0f wire seconds, %u steps, float target from %.2f h; highest "
                    "cell %.3f V; BMS protections 0x%X; oracle violations %u%s%s\n",
            scen_model_h(&R), scen_wire_s(&R), R.steps, float_since, R.max_cell_true_v, R.protections_seen, R.violations,
            R.violations ? ": " : "", R.first_violation);
    return (R.violations || (R.protections_seen & SIM_PROT_FAULTS)) ? 1 : 0;
}

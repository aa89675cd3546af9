/* libFuzzer harness: the simulator's control channel (sim_ctl_exec, sim_ctl_fault) and the
 * profile parser (sim_profile_parse).
 *
 * Trust model: command lines and profile files come from users and scripts and may be anything.
 * Invariants: no crash or UB; every answer is one NUL-terminated line without '\n', "ok..." /
 * JSON on success and "error: ..." on refusal; the model stays finite; a parsed profile has
 * strictly increasing, finite times. Files are disabled (no path from the input is opened). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/sim_ctl.h"

static void check_answer(const char *out, size_t cap, int rc)
{
    const char *z = memchr(out, '\0', cap);
    if (!z || memchr(out, '\n', (size_t)(z - out))) {
        abort();
    }
    if (rc < 0 && strncmp(out, "error: ", 7) != 0) {
        abort();
    }
    if (rc >= 0 && strncmp(out, "ok", 2) != 0 && out[0] != '{') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_t s;
    static sim_ctl_t ctl;
    static sim_point_t pts[256];
    size_t n = 0, line = 0;
    if (sim_profile_parse((const char *)data, size, pts, 256, &n, &line) == SIM_OK) {
        for (size_t k = 0; k < n; k++) {
            if (!isfinite(pts[k].time_s) || !isfinite(pts[k].current_a) ||
                (k > 0 && !(pts[k].time_s > pts[k - 1].time_s))) {
                abort();
            }
        }
    } else if (n != 0) {
        abort();
    }

    sim_config_t c;
    sim_config_default(&c);
    c.start_ms = 0;
    if (sim_init(&s, &c) != SIM_OK) {
        abort();
    }
    sim_ctl_init(&ctl, &s, false);
    uint32_t now = 0;
    char buf[SIM_CTL_LINE_MAX + 64];
    char out[SIM_CTL_OUT_MAX];
    size_t i = 0;
    int lines = 0;
    while (i < size && lines < 64) {
        size_t e = i;
        while (e < size && data[e] != '\n') {
            e++;
        }
        size_t l = e - i < sizeof buf - 1 ? e - i : sizeof buf - 1;
        memcpy(buf, data + i, l);
        buf[l] = '\0';
        int rc = (l > 0 && buf[0] == '!') ? sim_ctl_fault(&ctl, buf + 1, now, out, sizeof out)
                                          : sim_ctl_exec(&ctl, buf, now, out, sizeof out);
        check_answer(out, sizeof out, rc);
        /* a small buffer must not overflow either */
        char tiny[7];
        sim_ctl_exec(&ctl, buf, now, tiny, sizeof tiny);
        if (!memchr(tiny, '\0', sizeof tiny)) {
            abort();
        }
        now += 50u + (uint32_t)(l % 1000);
        sim_advance(&s, now);
        i = e + 1;
        lines++;
    }
    sim_truth_t t;
    sim_truth(&s, &t);
    if (!isfinite(t.pack_v) || !isfinite(t.soc_pct) || !isfinite(t.temp_ext1_c)) {
        abort();
    }
    return 0;
}

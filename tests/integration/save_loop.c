/* Test helper: save two different complete configurations to PATH alternately, forever, with the
 * daemon's atomic save (ports/linux/fileio.h), so that a test can kill -9 it at random instants
 * and check that PATH always holds one of them complete.
 * Usage: save_loop PATH  (prints "ready" once both versions were written) */
#include <stdio.h>
#include <string.h>

#include "app/config.h"
#include "ports/linux/fileio.h"

static char a[256 * 1024], b[256 * 1024];

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: save_loop PATH\n");
        return 2;
    }
    gw_config_t ca, cb;
    gw_config_defaults(&ca);
    gw_config_defaults(&cb);
    cb.link.live_period_ms = 250;
    snprintf(cb.gateway.serial_device, sizeof cb.gateway.serial_device, "/dev/ttyAMA0");
    int na = gw_config_to_json(&ca, a, sizeof a, GW_CFG_OUT_SECRETS | GW_CFG_OUT_COMMENTS);
    int nb = gw_config_to_json(&cb, b, sizeof b, GW_CFG_OUT_SECRETS | GW_CFG_OUT_COMMENTS);
    if (na < 0 || nb < 0) {
        return 1;
    }
    char err[512];
    for (unsigned long i = 0;; i++) {
        const char *t = (i & 1u) ? b : a;
        size_t n = (size_t)((i & 1u) ? nb : na);
        if (file_save_atomic(argv[1], t, n, true, err, sizeof err) != 0) {
            fprintf(stderr, "save_loop: %s\n", err);
            return 1;
        }
        if (i == 1) {
            printf("ready\n");
            fflush(stdout);
        }
    }
}

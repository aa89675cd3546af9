/* bench_latency: the real daemon between a simulated TinyBMS and a CAN bus,
 * both over ptys, timed from outside. For `make bench` (bench/run_bench.py);
 * prints one JSON object on stdout.
 *
 *   bench_latency GATEWAY_BINARY [--steady S] [--ov-trials K] [--rss-seconds S]
 * [--rss-speed X]
 *                                [--burst-gap MS]   (can.burst_gap_ms; default:
 * the shipped default)
 *
 * This program owns the master side of two pseudo-terminals. On the first it
 * plays the TinyBMS with the simulator library (sim/, the same model as
 * tinybms-sim) running in this process; on the second it reads the slcan lines
 * the gateway writes (as a USB CAN adapter would take them). The daemon runs
 * unmodified with --serial PTY --can slcan:PTY. Running the simulator
 * in-process rather than as tinybms-sim lets every byte be timestamped where it
 * is written or read, with CLOCK_MONOTONIC in microseconds, without a third
 * process in between.
 *
 * Phases:
 *   steady      S seconds (default 30) of a 16-cell pack discharging at 20 A.
 * For every live-data reply (AA 03 70 ... 114 bytes) the time its last byte was
 * written, and the time the next 0x351 line arrives: "BMS reply -> CAN frame"
 * latency. Also the largest gap between 0x351 frames. ov          K trials
 * (default 10): at a random instant a cell is driven above the BMS over-voltage
 * cut-off (register 315) within one 100 ms measurement (fault cellhigh at 600
 * mV per model second, speed 10 for the duration); t0 = the first instant the
 * BMS's published cell register is at or above the cut-off, t1 = the first
 * 0x351 with CCL = 0 after t0. Between trials the fault is cleared and the
 *               gateway must allow charging again (the bench configuration sets
 *               charge.limit_hold_s = 0 and a fast ramp so that recovery takes
 * seconds). rss         S seconds (default 60) at simulator speed X (default
 * 60: one simulated hour per wall minute) with the daemon's default 10 Hz poll:
 * CPU time from /proc/PID/stat (utime + stime) over wall time, VmRSS sampled
 * every second and VmHWM at the end.
 */
#define _DEFAULT_SOURCE /* cfmakeraw, openpty */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/can_frame.h"
#include "ports/linux/can_slcan.h"
#include "sim/sim.h"

#define MAX_SAMPLES 20000

static sim_t g_sim;
static int g_ms = -1, g_ss = -1, g_mc = -1, g_sc = -1;
static pid_t g_gw = -1;
static char g_dir[64];
static slcan_rx_t g_slrx;

/* live reply scanner (bytes written towards the gateway) */
static uint8_t g_hdr[3];
static int g_remaining = -1;
static uint64_t g_reply_us; /* first live reply not yet followed by 0x351, 0 if none */

/* CAN side */
static uint64_t g_last351_us;
static double g_last_ccl = -1;
static uint64_t g_max_gap_us;
static unsigned g_n351;

static double g_lat[MAX_SAMPLES];
static unsigned g_nlat;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t now_ms(void)
{
    return (uint32_t)(mono_us() / 1000u);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_latency: %s: %s\n", what, strerror(errno));
    if (g_gw > 0) {
        kill(g_gw, SIGKILL);
    }
    exit(1);
}

static void open_pty(int *master, int *slave, char *name)
{
    struct termios t;
    memset(&t, 0, sizeof t);
    cfmakeraw(&t);
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    if (openpty(master, slave, name, &t, NULL) != 0) {
        die("openpty");
    }
    fcntl(*master, F_SETFL, fcntl(*master, F_GETFL) | O_NONBLOCK);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &l) != 0) {
        die("socket");
    }
    int p = ntohs(a.sin_port);
    close(s);
    return p;
}

/* ---- the BMS side
 * -----------------------------------------------------------------------------
 */

static void scan_written(const uint8_t *b, size_t n, uint64_t t_us)
{
    for (size_t i = 0; i < n; i++) {
        if (g_remaining > 0) {
            if (--g_remaining == 0) {
                if (g_reply_us == 0) {
                    g_reply_us = t_us;
                }
                g_remaining = -1;
            }
            continue;
        }
        g_hdr[0] = g_hdr[1];
        g_hdr[1] = g_hdr[2];
        g_hdr[2] = b[i];
        if (g_hdr[0] == 0xAA && g_hdr[1] == 0x03 && g_hdr[2] == 112) {
            g_remaining = 112 + 2;
        }
    }
}

static void bms_io(uint32_t now)
{
    uint8_t buf[1024];
    for (;;) {
        ssize_t k = read(g_ms, buf, sizeof buf);
        if (k > 0) {
            sim_rx(&g_sim, buf, (size_t)k, now);
            continue;
        }
        break;
    }
    sim_advance(&g_sim, now);
    size_t n;
    while ((n = sim_tx(&g_sim, buf, sizeof buf, now)) > 0) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(g_ms, buf + off, n - off);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                die("write to the serial pty");
            }
            off += (size_t)w;
        }
        scan_written(buf, n, mono_us());
    }
}

/* ---- the CAN side
 * -----------------------------------------------------------------------------
 */

static void on_frame(const can_frame_t *f, uint64_t t_us)
{
    if (f->id != 0x351 || f->dlc < 8) {
        return;
    }
    g_n351++;
    if (g_last351_us && t_us - g_last351_us > g_max_gap_us) {
        g_max_gap_us = t_us - g_last351_us;
    }
    g_last351_us = t_us;
    g_last_ccl = (int16_t)(f->data[2] | f->data[3] << 8) / 10.0;
    if (g_reply_us) {
        if (g_nlat < MAX_SAMPLES) {
            g_lat[g_nlat++] = (double)(t_us - g_reply_us) / 1000.0;
        }
        g_reply_us = 0;
    }
}

static void can_io(void)
{
    uint8_t buf[1024];
    ssize_t k;
    while ((k = read(g_mc, buf, sizeof buf)) > 0) {
        uint64_t t = mono_us();
        for (ssize_t i = 0; i < k; i++) {
            can_frame_t f;
            if (slcan_rx_byte(&g_slrx, buf[i], &f) == 1) {
                on_frame(&f, t);
            }
        }
    }
}

/* One turn of the loop: wait for either pty or the simulator's next byte (at
 * most 2 ms). */
static void pump(void)
{
    uint32_t now = now_ms();
    int timeout = 2;
    uint32_t due;
    if (sim_tx_pending(&g_sim, &due)) {
        int32_t d = (int32_t)(due - now);
        timeout = d <= 0 ? 0 : d < timeout ? d : timeout;
    }
    struct pollfd p[2] = {{g_ms, POLLIN, 0}, {g_mc, POLLIN, 0}};
    if (poll(p, 2, timeout) < 0 && errno != EINTR) {
        die("poll");
    }
    now = now_ms();
    bms_io(now);
    if (p[1].revents & POLLIN) {
        can_io();
    }
}

static void run_for(double seconds)
{
    uint64_t end = mono_us() + (uint64_t)(seconds * 1e6);
    while (mono_us() < end) {
        pump();
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p)
{
    if (n == 0) {
        return NAN;
    }
    qsort(v, n, sizeof v[0], cmp_d);
    unsigned i = (unsigned)ceil(p / 100.0 * n);
    return v[i ? i - 1 : 0];
}

/* ---- /proc
 * ------------------------------------------------------------------------------------
 */

static long proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        if (f) {
            fclose(f);
        }
        return NAN;
    }
    fclose(f);
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return NAN;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- main
 * -------------------------------------------------------------------------------------
 */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        die(path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_latency GATEWAY [--steady S] [--ov-trials K] "
                        "[--rss-seconds S] [--rss-speed X] [--burst-gap MS]\n");
        return 2;
    }
    const char *gw_bin = argv[1];
    double steady_s = 30, rss_s = 60, rss_speed = 60;
    int trials = 10, gap_ms = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steady") == 0)
            steady_s = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--ov-trials") == 0)
            trials = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rss-seconds") == 0)
            rss_s = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--rss-speed") == 0)
            rss_speed = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--burst-gap") == 0)
            gap_ms = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_latency: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL));
    snprintf(g_dir, sizeof g_dir, "/tmp/tb-bench-XXXXXX");
    if (!mkdtemp(g_dir)) {
        die("mkdtemp");
    }
    char sname[128], cname[128], cfg[128], logp[128], spec[160], http[64];
    open_pty(&g_ms, &g_ss, sname);
    open_pty(&g_mc, &g_sc, cname);
    snprintf(cfg, sizeof cfg, "%s/bench.json", g_dir);
    snprintf(logp, sizeof logp, "%s/gateway.log", g_dir);
    snprintf(spec, sizeof spec, "slcan:%s", cname);
    snprintf(http, sizeof http, "127.0.0.1:%d", free_port());
    /* fast recovery between over-voltage trials; everything else at its default
     */
    char text[256];
    if (gap_ms > 0) {
        snprintf(text, sizeof text,
                 "{\"charge\": {\"limit_hold_s\": 0, \"ccl_ramp_a_s\": 100}, "
                 "\"can\": {\"burst_gap_ms\": %d}}\n",
                 gap_ms);
    } else {
        snprintf(text, sizeof text, "{\"charge\": {\"limit_hold_s\": 0, \"ccl_ramp_a_s\": 100}}\n");
    }
    write_file(cfg, text);

    sim_config_t sc;
    sim_config_default(&sc);
    sc.cells = 16;
    sc.capacity_ah = 280;
    sc.soc_pct = 55;
    sc.seed = 11;
    sc.start_ms = now_ms();
    if (sim_init(&g_sim, &sc) != SIM_OK || sim_set_current(&g_sim, -20.0, now_ms()) != SIM_OK) {
        die("sim_init");
    }
    uint16_t ov_mv10 = 0;
    sim_read_register(&g_sim, 315, &ov_mv10); /* mV */
    slcan_rx_init(&g_slrx);

    g_gw = fork();
    if (g_gw < 0) {
        die("fork");
    }
    if (g_gw == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(gw_bin, gw_bin, "--serial", sname, "--can", spec, "--state-dir", g_dir, "--config", cfg, "--http", http,
              (char *)NULL);
        _exit(127);
    }

    /* start-up: wait for limits on the bus */
    uint64_t t_start = mono_us();
    while (g_n351 == 0 && mono_us() - t_start < 15000000u) {
        pump();
    }
    if (g_n351 == 0) {
        kill(g_gw, SIGKILL);
        errno = ETIMEDOUT;
        die("no 0x351 from the gateway within 15 s (see its log)");
    }
    double startup_ms = (double)(mono_us() - t_start) / 1000.0;
    run_for(2.0);

    /* ---- steady ---- */
    g_nlat = 0;
    g_max_gap_us = 0;
    g_reply_us = 0;
    unsigned n351_0 = g_n351;
    run_for(steady_s);
    unsigned nlat = g_nlat;
    double lat_p50 = pct(g_lat, nlat, 50), lat_p99 = pct(g_lat, nlat, 99), lat_max = pct(g_lat, nlat, 100);
    double max_gap_ms = (double)g_max_gap_us / 1000.0;
    unsigned n351_steady = g_n351 - n351_0;

    /* ---- the same after 3 s of lost replies (half of them), as a noisy cable would cause ---- */
    sim_fault_t nr = {0.5, 0, 0};
    sim_set_fault(&g_sim, SIM_FAULT_NOREPLY, &nr, now_ms());
    run_for(3.0);
    sim_clear_fault(&g_sim, SIM_FAULT_NOREPLY, now_ms());
    run_for(1.0);
    g_nlat = 0;
    g_reply_us = 0;
    run_for(steady_s / 2 > 5 ? steady_s / 2 : 5);
    unsigned nlat2 = g_nlat;
    double lat2_p50 = pct(g_lat, nlat2, 50), lat2_p99 = pct(g_lat, nlat2, 99);

    /* ---- over-voltage -> CCL 0 ---- */
    double ov[64];
    unsigned nov = 0, misses = 0;
    for (int k = 0; k < trials && k < 64; k++) {
        uint64_t w = mono_us();
        while ((g_last_ccl <= 0.0) && mono_us() - w < 60000000u) {
            pump();
        }
        if (g_last_ccl <= 0.0) {
            break; /* charging never came back; report what we have */
        }
        run_for(1.0 + (double)(rand() % 1000) / 1000.0);
        uint32_t t = now_ms();
        sim_set_speed(&g_sim, 10.0, t);
        sim_fault_t f = {1.0, 5, 600.0};
        sim_set_fault(&g_sim, SIM_FAULT_CELL_HIGH, &f, t);
        uint64_t t0 = 0, t1 = 0, begin = mono_us();
        while (mono_us() - begin < 3000000u) {
            double ccl_before = g_last_ccl;
            uint64_t last_before = g_last351_us;
            pump();
            if (!t0) {
                for (uint16_t r = 0; r < 16; r++) {
                    uint16_t v = 0;
                    sim_read_register(&g_sim, r, &v); /* 0.1 mV */
                    if (v / 10u >= ov_mv10) {
                        t0 = mono_us();
                        /* back to real time: the cell keeps rising slowly (0.06 V per measurement)
                         * and stays well inside the decoder's 5 V plausibility limit */
                        sim_set_speed(&g_sim, 1.0, now_ms());
                        break;
                    }
                }
            }
            if (t0 && g_last351_us != last_before && g_last_ccl == 0.0) {
                t1 = g_last351_us;
                break;
            }
            (void)ccl_before;
        }
        sim_clear_fault(&g_sim, SIM_FAULT_CELL_HIGH, now_ms());
        sim_set_speed(&g_sim, 1.0, now_ms());
        if (t0 && t1) {
            ov[nov++] = (double)(t1 - t0) / 1000.0;
        } else {
            misses++;
        }
    }
    double ov_p50 = pct(ov, nov, 50), ov_max = pct(ov, nov, 100);

    /* ---- RSS and CPU at 10 Hz ---- */
    long rss_min = -1, rss_max = -1, rss_first = -1, rss_last = -1, hwm = -1;
    double cpu_pct = NAN, wall = 0;
    if (rss_s > 0) {
        run_for(3.0);
        sim_set_speed(&g_sim, rss_speed, now_ms());
        rss_first = proc_kb(g_gw, "VmRSS");
        double cpu0 = proc_cpu_s(g_gw);
        uint64_t w0 = mono_us();
        while (mono_us() - w0 < (uint64_t)(rss_s * 1e6)) {
            run_for(1.0);
            long r = proc_kb(g_gw, "VmRSS");
            if (r > 0) {
                rss_min = rss_min < 0 || r < rss_min ? r : rss_min;
                rss_max = r > rss_max ? r : rss_max;
            }
        }
        double cpu1 = proc_cpu_s(g_gw);
        wall = (double)(mono_us() - w0) / 1e6;
        rss_last = proc_kb(g_gw, "VmRSS");
        hwm = proc_kb(g_gw, "VmHWM");
        cpu_pct = 100.0 * (cpu1 - cpu0) / wall;
    }

    kill(g_gw, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200; i++) {
        run_for(0.05);
        if (waitpid(g_gw, &st, WNOHANG) == g_gw) {
            g_gw = -1;
            break;
        }
    }
    if (g_gw > 0) {
        kill(g_gw, SIGKILL);
        waitpid(g_gw, &st, 0);
    }
    /* the gateway's own measurement (owner loop, 1 ms buckets) from its shutdown
     * line */
    int in_n = -1, in_p50 = -1, in_p99 = -1;
    FILE *lf = fopen(logp, "r");
    char line[512];
    while (lf && fgets(line, sizeof line, lf)) {
        const char *m = strstr(line, "latency over ");
        if (m) {
            sscanf(m, "latency over %d bursts: p50 %d ms, p99 %d ms", &in_n, &in_p50, &in_p99);
        }
    }
    if (lf) {
        fclose(lf);
    }
    sim_counters_t c;
    sim_counters(&g_sim, &c);
    printf("{\"startup_ms\": %.0f, \"steady_s\": %.0f, \"reply_to_351\": {\"n\": "
           "%u, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"max_ms\": %.3f}, \"after_lost_replies\": {\"n\": %u, \"p50_ms\": %.3f, \"p99_ms\": %.3f}, "
           "\"frames_351\": %u, \"max_gap_351_ms\": %.1f, "
           "\"internal\": {\"n\": %d, \"p50_ms\": %d, \"p99_ms\": %d}, "
           "\"ov_to_ccl0\": {\"trials\": %u, \"misses\": %u, \"p50_ms\": %.1f, "
           "\"max_ms\": %.1f, \"ov_mv\": %u}, "
           "\"rss\": {\"seconds\": %.0f, \"speed\": %.0f, \"simulated_h\": %.2f, "
           "\"cpu_pct\": %.3f, \"rss_first_kb\": %ld, "
           "\"rss_min_kb\": %ld, \"rss_max_kb\": %ld, \"rss_last_kb\": %ld, "
           "\"hwm_kb\": %ld}, "
           "\"sim\": {\"replies\": %u, \"rx_garbage\": %u}, \"exit_status\": %d}\n",
           startup_ms, steady_s, nlat, lat_p50, lat_p99, lat_max, nlat2, lat2_p50, lat2_p99, n351_steady, max_gap_ms, in_n, in_p50, in_p99, nov,
           misses, ov_p50, ov_max, (unsigned)ov_mv10, wall, rss_speed, wall * rss_speed / 3600.0, cpu_pct, rss_first,
           rss_min, rss_max, rss_last, hwm, c.replies, c.rx_garbage, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* tidy up the state directory (config, energy counters, log) */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (getenv("BENCH_KEEP") == NULL && system(cmd) != 0) {
        fprintf(stderr, "bench_latency: could not remove %s\n", g_dir);
    }
    return 0;
}

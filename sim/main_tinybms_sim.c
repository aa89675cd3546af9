/* tinybms-sim: a simulated TinyBMS on a pseudo-terminal.
 *
 *   tinybms-sim --pty [options]     prints the slave device path as the first line of stdout,
 *                                   then answers the TinyBMS UART protocol on it in real time
 *                                   (the battery itself runs --speed times faster)
 *
 * Control commands are read line by line from stdin (EOF quits, unless --no-stdin) and, with
 * --control PATH, from clients of a unix stream socket; each gets one line of answer.
 * See docs/simulator.md. */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "sim/sim_ctl.h"

#define MAX_CLIENTS 8
#define MAX_STARTUP 64
#define LINE_BUF 1024

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tinybms-sim [--pty] [options]\n"
            "  --pty                 create a pseudo-terminal; its path is the first line of stdout\n"
            "  --cells N             series cells, 4..16 (16)\n"
            "  --capacity AH         cell capacity, 1..2000 Ah (100)\n"
            "  --soc PCT             initial state of charge, 0..100 (50)\n"
            "  --temp C              initial pack temperature, -50..120 (= ambient)\n"
            "  --ambient C           ambient temperature, -40..80 (25)\n"
            "  --seed N              seed of the cell spread and of random faults (1)\n"
            "  --speed X             model seconds per real second, 0.01..100000 (1)\n"
            "  --latency MS          reply turnaround, 0..1000 ms (1)\n"
            "  --spread-cap PCT      1-sigma capacity spread, 0..10 (1)\n"
            "  --spread-ir PCT       1-sigma resistance spread, 0..50 (10)\n"
            "  --spread-soc PCT      1-sigma initial SOC spread, 0..10 (0.2)\n"
            "  --lifetime S          BMS lifetime counter at start (86400)\n"
            "  --no-sleep            never sleep (no request is swallowed)\n"
            "  --current A           constant current, + charges, - discharges\n"
            "  --profile FILE        CSV profile (time_s,current_a); --loop repeats it\n"
            "  --load 'CMD'          any load command: 'charge 40', 'solar 30 5', 'day 110 12', 'discharge 20'\n"
            "  --fault SPEC          a fault, e.g. 'crc 0.2', 'delay:300:0.5', 'cellhigh 3' (repeat)\n"
            "  --set REG=VALUE       write a settings register at start (repeatable)\n"
            "  --control PATH        also accept control commands on a unix socket\n"
            "  --no-stdin            do not read commands from stdin (run until a signal)\n"
            "  --version             print the version\n"
            "  --help                this text\n");
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The options that take a value (the others are handled before): an unknown option is named as
 * such, not as one missing its value. */
static bool is_value_option(const char *o)
{
    static const char *const k[] = {"--cells",  "--capacity", "--soc",      "--temp",      "--ambient",
                                    "--seed",   "--speed",    "--latency",  "--spread-cap", "--spread-ir",
                                    "--spread-soc", "--lifetime", "--current", "--load",   "--set",
                                    "--profile", "--fault",   "--control"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (strcmp(o, k[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int die(const char *msg, const char *arg)
{
    fprintf(stderr, "tinybms-sim: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static bool parse_num(const char *s, double lo, double hi, double *v)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (!s[0] || *end || errno || !(d >= lo && d <= hi)) {
        return false;
    }
    *v = d;
    return true;
}

/* Open a pty pair; the master is returned, the slave stays open in *slave so that the line
 * exists (and reads on the master never fail with EIO) while no client has it open. */
static int open_pty(int *slave, char *path, size_t cap)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) {
        return -1;
    }
    const char *name = NULL;
    if (grantpt(m) != 0 || unlockpt(m) != 0 || (name = ptsname(m)) == NULL ||
        strlen(name) >= cap) {
        close(m);
        return -1;
    }
    snprintf(path, cap, "%s", name);
    int s = open(path, O_RDWR | O_NOCTTY);
    if (s < 0) {
        close(m);
        return -1;
    }
    struct termios t;
    if (tcgetattr(s, &t) != 0) {
        close(s);
        close(m);
        return -1;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
                             IXOFF);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, B115200) != 0 || cfsetospeed(&t, B115200) != 0 ||
        tcsetattr(s, TCSANOW, &t) != 0) {
        close(s);
        close(m);
        return -1;
    }
    int fl = fcntl(m, F_GETFL);
    if (fl < 0 || fcntl(m, F_SETFL, fl | O_NONBLOCK) != 0) {
        close(s);
        close(m);
        return -1;
    }
    *slave = s;
    return m;
}

static int open_control(const char *path)
{
    struct sockaddr_un a;
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            errno = EEXIST;
            return -1;
        }
        unlink(path); /* a stale socket from an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return fd;
}

typedef struct {
    int fd;
    char buf[LINE_BUF];
    size_t len;
    bool overlong;
} linebuf_t;

/* Write an answer; a reader that does not take it within about a second loses it (the
 * simulator must not stall its UART for a stuck control client). */
static void write_all(int fd, const char *s, size_t n)
{
    int waits = 0;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < 10) {
                struct pollfd p = {fd, POLLOUT, 0};
                poll(&p, 1, 100);
                continue;
            }
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static sim_t g_sim;
static sim_ctl_t g_ctl;

/* Feed newly read bytes; execute each complete line; answer on out_fd. Returns true on quit. */
static bool feed_lines(linebuf_t *lb, const char *data, size_t n, int out_fd, uint32_t now)
{
    bool quit = false;
    for (size_t k = 0; k < n; k++) {
        char ch = data[k];
        if (ch != '\n') {
            if (lb->len < sizeof lb->buf - 1) {
                lb->buf[lb->len++] = ch;
            } else {
                lb->overlong = true;
            }
            continue;
        }
        lb->buf[lb->len] = '\0';
        static char out[SIM_CTL_OUT_MAX];
        int rc;
        if (lb->overlong) {
            snprintf(out, sizeof out, "error: command line too long");
            rc = SIM_ERR_ARG;
        } else {
            rc = sim_ctl_exec(&g_ctl, lb->buf, now, out, sizeof out);
        }
        lb->len = 0;
        lb->overlong = false;
        size_t ol = strlen(out);
        out[ol++] = '\n';
        write_all(out_fd, out, ol);
        if (rc == SIM_CTL_QUIT) {
            quit = true;
            break;
        }
    }
    return quit;
}

int main(int argc, char **argv)
{
    sim_config_t cfg;
    sim_config_default(&cfg);
    bool want_pty = false, use_stdin = true, loop = false;
    const char *control = NULL, *profile = NULL;
    const char *startup[MAX_STARTUP];
    int n_startup = 0;
    const char *faults[MAX_STARTUP];
    int n_faults = 0;
    static char owned[MAX_STARTUP][128];
    int n_owned = 0;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        bool takes = true;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--pty") == 0) {
            want_pty = true;
            takes = false;
        } else if (strcmp(o, "--no-sleep") == 0) {
            cfg.sleep_enabled = false;
            takes = false;
        } else if (strcmp(o, "--no-stdin") == 0) {
            use_stdin = false;
            takes = false;
        } else if (strcmp(o, "--loop") == 0) {
            loop = true;
            takes = false;
        } else if (strcmp(o, "--version") == 0) {
            printf("tinybms-sim %s\n", TB_VERSION);
            return 0;
        } else if (!is_value_option(o)) {
            return die(strncmp(o, "-", 1) == 0 ? "unknown option (see --help)" : "unknown argument (see --help)", o);
        } else if (!v) {
            return die("option needs a value", o);
        } else if (strcmp(o, "--cells") == 0) {
            if (!parse_num(v, 4, 16, &d) || d != (int)d) {
                return die("--cells must be an integer 4..16", v);
            }
            cfg.cells = (uint8_t)d;
        } else if (strcmp(o, "--capacity") == 0) {
            if (!parse_num(v, 1, 2000, &cfg.capacity_ah)) {
                return die("--capacity must be 1..2000 Ah", v);
            }
        } else if (strcmp(o, "--soc") == 0) {
            if (!parse_num(v, 0, 100, &cfg.soc_pct)) {
                return die("--soc must be 0..100", v);
            }
        } else if (strcmp(o, "--temp") == 0) {
            if (!parse_num(v, -50, 120, &cfg.temp_c)) {
                return die("--temp must be -50..120", v);
            }
        } else if (strcmp(o, "--ambient") == 0) {
            if (!parse_num(v, -40, 80, &cfg.ambient_c)) {
                return die("--ambient must be -40..80", v);
            }
        } else if (strcmp(o, "--seed") == 0) {
            if (!parse_num(v, 0, 4294967295.0, &d) || d != (double)(uint32_t)d) {
                return die("--seed must be an integer 0..4294967295", v);
            }
            cfg.seed = (uint32_t)d;
        } else if (strcmp(o, "--speed") == 0) {
            if (!parse_num(v, 0.01, 100000, &cfg.speed)) {
                return die("--speed must be 0.01..100000", v);
            }
        } else if (strcmp(o, "--latency") == 0) {
            if (!parse_num(v, 0, 1000, &d) || d != (int)d) {
                return die("--latency must be an integer 0..1000 ms", v);
            }
            cfg.reply_latency_ms = (uint16_t)d;
        } else if (strcmp(o, "--spread-cap") == 0) {
            if (!parse_num(v, 0, 10, &cfg.cap_spread_pct)) {
                return die("--spread-cap must be 0..10", v);
            }
        } else if (strcmp(o, "--spread-ir") == 0) {
            if (!parse_num(v, 0, 50, &cfg.ir_spread_pct)) {
                return die("--spread-ir must be 0..50", v);
            }
        } else if (strcmp(o, "--spread-soc") == 0) {
            if (!parse_num(v, 0, 10, &cfg.soc_spread_pct)) {
                return die("--spread-soc must be 0..10", v);
            }
        } else if (strcmp(o, "--lifetime") == 0) {
            if (!parse_num(v, 0, 4026531840.0, &d) || d != (double)(uint32_t)d) {
                return die("--lifetime must be an integer number of seconds", v);
            }
            cfg.lifetime_s = (uint32_t)d;
        } else if (strcmp(o, "--current") == 0 || strcmp(o, "--load") == 0 ||
                   strcmp(o, "--set") == 0) {
            if (n_startup >= MAX_STARTUP || n_owned >= MAX_STARTUP) {
                return die("too many start-up commands", NULL);
            }
            char *line = owned[n_owned++];
            if (strcmp(o, "--current") == 0) {
                snprintf(line, sizeof owned[0], "current %s", v);
            } else if (strcmp(o, "--load") == 0) {
                snprintf(line, sizeof owned[0], "%s", v);
            } else {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || strlen(v) > 100) {
                    return die("--set needs REG=VALUE", v);
                }
                snprintf(line, sizeof owned[0], "write %.*s %s", (int)(eq - v), v, eq + 1);
            }
            startup[n_startup++] = line;
        } else if (strcmp(o, "--profile") == 0) {
            profile = v;
        } else if (strcmp(o, "--fault") == 0) {
            if (n_faults >= MAX_STARTUP) {
                return die("too many --fault options", NULL);
            }
            faults[n_faults++] = v;
        } else if (strcmp(o, "--control") == 0) {
            control = v;
        } else {
            return die("unknown option (see --help)", o);
        }
        if (takes) {
            i++;
        }
    }
    if (loop && !profile) {
        return die("--loop needs --profile", NULL);
    }

    uint64_t t0 = mono_ms();
    cfg.start_ms = 0;
    if (sim_init(&g_sim, &cfg) != SIM_OK) {
        return die("invalid configuration", NULL);
    }
    sim_ctl_init(&g_ctl, &g_sim, true);
    char out[SIM_CTL_OUT_MAX];
    if (profile) {
        char line[LINE_BUF];
        snprintf(line, sizeof line, "profile %s%s", profile, loop ? " loop" : "");
        if (strchr(profile, ' ') || sim_ctl_exec(&g_ctl, line, 0, out, sizeof out) != SIM_CTL_OK) {
            return die(strchr(profile, ' ') ? "profile path must not contain spaces" : out, NULL);
        }
    }
    for (int k = 0; k < n_startup; k++) {
        if (sim_ctl_exec(&g_ctl, startup[k], 0, out, sizeof out) != SIM_CTL_OK) {
            return die(out, startup[k]);
        }
    }
    for (int k = 0; k < n_faults; k++) {
        if (sim_ctl_fault(&g_ctl, faults[k], 0, out, sizeof out) != SIM_CTL_OK) {
            return die(out, faults[k]);
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    int master = -1, slave = -1, lfd = -1;
    char path[256] = "";
    if (want_pty) {
        master = open_pty(&slave, path, sizeof path);
        if (master < 0) {
            fprintf(stderr, "tinybms-sim: cannot create a pty: %s\n", strerror(errno));
            return 1;
        }
        printf("%s\n", path);
        fflush(stdout);
    }
    if (control) {
        lfd = open_control(control);
        if (lfd < 0) {
            fprintf(stderr, "tinybms-sim: cannot listen on %s: %s\n", control, strerror(errno));
            return 1;
        }
    }

    linebuf_t in_lb = {STDIN_FILENO, {0}, 0, false};
    linebuf_t clients[MAX_CLIENTS];
    for (int k = 0; k < MAX_CLIENTS; k++) {
        clients[k].fd = -1;
    }
    static uint8_t obuf[4096];
    size_t olen = 0;
    int rc = 0;

    while (!g_stop) {
        uint32_t now = (uint32_t)(mono_ms() - t0);
        sim_advance(&g_sim, now);
        if (master >= 0) {
            olen += sim_tx(&g_sim, obuf + olen, sizeof obuf - olen, now);
            while (olen > 0) {
                ssize_t w = write(master, obuf, olen);
                if (w <= 0) {
                    break; /* EAGAIN: the line is full; retry when writable */
                }
                memmove(obuf, obuf + w, olen - (size_t)w);
                olen -= (size_t)w;
            }
        }
        int timeout = 50;
        uint32_t due;
        if (olen == 0 && sim_tx_pending(&g_sim, &due)) {
            int32_t d = (int32_t)(due - now);
            timeout = d < 0 ? 0 : (d < timeout ? d : timeout);
        }

        struct pollfd pf[3 + MAX_CLIENTS];
        int np = 0, i_master = -1, i_stdin = -1, i_listen = -1, i_cl[MAX_CLIENTS];
        if (master >= 0) {
            i_master = np;
            pf[np++] = (struct pollfd){master, (short)(POLLIN | (olen ? POLLOUT : 0)), 0};
        }
        if (use_stdin) {
            i_stdin = np;
            pf[np++] = (struct pollfd){STDIN_FILENO, POLLIN, 0};
        }
        if (lfd >= 0) {
            i_listen = np;
            pf[np++] = (struct pollfd){lfd, POLLIN, 0};
        }
        for (int k = 0; k < MAX_CLIENTS; k++) {
            i_cl[k] = -1;
            if (clients[k].fd >= 0) {
                i_cl[k] = np;
                pf[np++] = (struct pollfd){clients[k].fd, POLLIN, 0};
            }
        }
        int r = poll(pf, (nfds_t)np, timeout);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "tinybms-sim: poll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        now = (uint32_t)(mono_ms() - t0);
        char buf[1024];
        if (i_master >= 0 && (pf[i_master].revents & POLLIN)) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n > 0) {
                sim_rx(&g_sim, (const uint8_t *)buf, (size_t)n, now);
            }
        }
        if (i_stdin >= 0 && (pf[i_stdin].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                break; /* EOF: clean exit */
            }
            if (feed_lines(&in_lb, buf, (size_t)n, STDOUT_FILENO, now)) {
                break;
            }
        }
        if (i_listen >= 0 && (pf[i_listen].revents & POLLIN)) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                int slot = -1;
                for (int k = 0; k < MAX_CLIENTS; k++) {
                    if (clients[k].fd < 0) {
                        slot = k;
                        break;
                    }
                }
                if (slot < 0) {
                    write_all(c, "error: too many control clients\n", 32);
                    close(c);
                } else {
                    int fl = fcntl(c, F_GETFL);
                    if (fl >= 0) {
                        fcntl(c, F_SETFL, fl | O_NONBLOCK);
                    }
                    clients[slot].fd = c;
                    clients[slot].len = 0;
                    clients[slot].overlong = false;
                }
            }
        }
        bool quit = false;
        for (int k = 0; k < MAX_CLIENTS && !quit; k++) {
            if (i_cl[k] < 0 || !(pf[i_cl[k]].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            ssize_t n = read(clients[k].fd, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
                    continue;
                }
                close(clients[k].fd);
                clients[k].fd = -1;
                continue;
            }
            quit = feed_lines(&clients[k], buf, (size_t)n, clients[k].fd, now);
        }
        if (quit) {
            break;
        }
    }

    for (int k = 0; k < MAX_CLIENTS; k++) {
        if (clients[k].fd >= 0) {
            close(clients[k].fd);
        }
    }
    if (lfd >= 0) {
        close(lfd);
        unlink(control);
    }
    if (master >= 0) {
        close(master);
        close(slave);
    }
    return rc;
}

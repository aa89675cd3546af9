/* ports/linux/can_port: spec parsing, clear errors naming the device, the log: back-end, the
 * slcan: back-end over a real pty pair, SocketCAN error-frame classification and - only when the
 * kernel offers a vcan0 interface - a SocketCAN loopback. In this project's CI sandbox the kernel
 * has no CAN support at all, so the SocketCAN part that needs a socket reports "skipped". */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/can.h>
#include <linux/can/error.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tb_err.h"
#include "ports/linux/can_candump.h"
#include "ports/linux/can_port.h"
#include "ports/linux/can_socketcan.h"

/* Field by field: struct padding is indeterminate. */
static void assert_frame_eq(const can_frame_t *a, const can_frame_t *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->dlc, b->dlc);
    assert_int_equal(a->flags, b->flags);
    assert_memory_equal(a->data, b->data, CAN_FRAME_MAX_DLC);
}

static bool starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static void spec_errors(void **state)
{
    (void)state;
    can_port_t p;
    assert_int_equal(can_port_open(&p, "bogus:x", 0), TB_ERR_ARG);
    assert_non_null(strstr(can_port_error(&p), "bogus:x: not a CAN back-end of the Linux daemon"));
    /* the firmware's controller passes the shared configuration check but is not a Linux port */
    assert_int_equal(can_port_open(&p, "twai", 0), TB_ERR_ARG);
    assert_non_null(strstr(can_port_error(&p), "twai is the ESP32 firmware's"));
    assert_int_equal(can_port_fd(&p), -1);
    assert_false(can_port_is_open(&p));
    can_frame_t f = {.id = 0x351, .dlc = 0, .flags = 0, .data = {0}};
    assert_int_equal(can_port_send(&p, &f), TB_ERR_STATE);
    assert_int_equal(can_port_recv(&p, &f), 0);
    can_port_service(&p, 100000); /* a malformed spec is never retried */
    assert_false(can_port_is_open(&p));
    assert_int_equal(can_port_open(&p, NULL, 0), TB_ERR_ARG);
    assert_int_equal(can_port_open(&p, "socketcan:", 0), TB_ERR_ARG);
    assert_true(starts_with(can_port_error(&p), "socketcan:: "));
    assert_int_equal(can_port_open(&p, "socketcan:averyveryverylongname", 0), TB_ERR_ARG);
    assert_int_equal(can_port_open(&p, "slcan:", 0), TB_ERR_ARG);
    assert_int_equal(can_port_open(&p, "slcan:/dev/ttyACM0@12345", 0), TB_ERR_ARG);
    assert_non_null(strstr(can_port_error(&p), "baud"));
    assert_int_equal(can_port_open(&p, "log:", 0), TB_ERR_ARG);
    char longspec[300];
    memset(longspec, 'a', sizeof longspec);
    memcpy(longspec, "log:", 4);
    longspec[sizeof longspec - 1] = '\0';
    assert_int_equal(can_port_open(&p, longspec, 0), TB_ERR_ARG);
    can_port_close(&p);
}

static void missing_devices_are_retried_with_backoff(void **state)
{
    (void)state;
    can_port_t p;
    int rc = can_port_open(&p, "slcan:/nonexistent/ttyACM9", 1000);
    assert_int_equal(rc, TB_ERR_IO);
    assert_string_equal(can_port_error(&p), "slcan:/nonexistent/ttyACM9: open: No such file or directory");
    assert_false(can_port_is_open(&p));
    assert_true(p.need_reopen);
    assert_int_equal(p.retry_at_ms, 1000 + CAN_PORT_BACKOFF_MIN_MS);
    can_port_service(&p, 1050); /* not yet */
    assert_true(p.need_reopen);
    assert_int_equal(p.retry_at_ms, 1100);
    can_port_service(&p, 1100); /* retried, failed again: backoff doubled */
    assert_true(p.need_reopen);
    assert_int_equal(p.retry_at_ms, 1100 + 2 * CAN_PORT_BACKOFF_MIN_MS);
    for (uint32_t t = 1100; t < 60000; t += 50) {
        can_port_service(&p, t);
    }
    assert_true(p.backoff_ms <= CAN_PORT_BACKOFF_MAX_MS);
    assert_true(p.retry_at_ms - 60000u <= CAN_PORT_BACKOFF_MAX_MS);
    assert_int_equal(p.stats.reopens, 0);
    can_port_close(&p);
    assert_false(p.need_reopen);

    /* a file that is not a tty */
    assert_int_equal(can_port_open(&p, "slcan:/dev/null", 0), TB_ERR_IO);
    assert_non_null(strstr(can_port_error(&p), "slcan:/dev/null: tcgetattr (not a tty?)"));
    can_port_close(&p);

    /* SocketCAN: without kernel CAN support (or without can0) the error names the device */
    rc = can_port_open(&p, "socketcan:tbgwnone0", 0);
    assert_int_equal(rc, TB_ERR_IO);
    assert_true(starts_with(can_port_error(&p), "socketcan:tbgwnone0: "));
    print_message("socketcan open error (expected): %s\n", can_port_error(&p));
    can_port_close(&p);
}

static void error_frame_classification(void **state)
{
    (void)state;
    can_err_class_t c;
    uint8_t d[8] = {0};
    can_socketcan_classify(CAN_ERR_BUSOFF, d, 8, &c);
    assert_true(c.bus_off);
    assert_false(c.error_passive);
    d[1] = CAN_ERR_CRTL_TX_PASSIVE;
    can_socketcan_classify(CAN_ERR_CRTL, d, 8, &c);
    assert_true(c.controller);
    assert_true(c.error_passive);
    assert_false(c.error_warning);
    d[1] = CAN_ERR_CRTL_RX_WARNING;
    can_socketcan_classify(CAN_ERR_CRTL, d, 8, &c);
    assert_true(c.error_warning);
    d[1] = CAN_ERR_CRTL_ACTIVE;
    can_socketcan_classify(CAN_ERR_CRTL, d, 8, &c);
    assert_true(c.back_to_active);
    d[1] = CAN_ERR_CRTL_RX_OVERFLOW;
    can_socketcan_classify(CAN_ERR_CRTL, d, 8, &c);
    assert_true(c.rx_overflow);
    can_socketcan_classify(CAN_ERR_ACK | CAN_ERR_TX_TIMEOUT, d, 8, &c);
    assert_true(c.no_ack);
    assert_true(c.tx_timeout);
    assert_false(c.controller);
    can_socketcan_classify(CAN_ERR_RESTARTED, NULL, 0, &c);
    assert_true(c.restarted);
    can_socketcan_classify(CAN_ERR_PROT | CAN_ERR_TRX | CAN_ERR_BUSERROR | CAN_ERR_LOSTARB, d, 8, &c);
    assert_true(c.protocol && c.transceiver && c.bus_error && c.lost_arbitration);
    /* controller details beyond the DLC are not read */
    d[1] = CAN_ERR_CRTL_TX_PASSIVE;
    can_socketcan_classify(CAN_ERR_CRTL, d, 1, &c);
    assert_false(c.error_passive);
}

/* A real SocketCAN loopback, only where the kernel has a vcan0 (ip link add dev vcan0 type vcan). */
static void socketcan_vcan_loopback(void **state)
{
    (void)state;
    int s = socket(PF_CAN, SOCK_RAW, CAN_RAW);
    if (s < 0 || if_nametoindex("vcan0") == 0) {
        if (s >= 0) {
            close(s);
        }
        print_message("skipped: no kernel CAN support or no vcan0 interface here\n");
        skip();
        return;
    }
    close(s);
    can_port_t a;
    can_port_t b;
    assert_int_equal(can_port_open(&a, "socketcan:vcan0", 0), TB_OK);
    assert_int_equal(can_port_open(&b, "socketcan:vcan0", 0), TB_OK);
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0, 0}};
    assert_int_equal(can_port_send(&a, &f), 8);
    struct pollfd pfd = {.fd = can_port_fd(&b), .events = POLLIN, .revents = 0};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    can_frame_t g;
    assert_int_equal(can_port_recv(&b, &g), 1);
    assert_frame_eq(&f, &g);
    assert_int_equal(can_port_recv(&a, &g), 0); /* own frames are not looped back to the sender */
    can_port_close(&a);
    can_port_close(&b);
}

static void log_backend(void **state)
{
    (void)state;
    char path[] = "/tmp/tbgw-can-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char spec[64];
    snprintf(spec, sizeof spec, "log:%s", path);
    can_port_t p;
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    assert_true(can_port_is_open(&p));
    assert_int_equal(can_port_fd(&p), -1); /* nothing to poll */
    can_frame_t f1 = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0, 0}};
    can_frame_t f2 = {.id = 0x35E, .dlc = 8, .flags = 0, .data = {'T', 'i', 'n', 'y', 'B', 'M', 'S', 0}};
    assert_int_equal(can_port_send(&p, &f1), 8);
    assert_int_equal(can_port_send(&p, &f2), 8);
    can_frame_t g;
    assert_int_equal(can_port_recv(&p, &g), 0);
    assert_int_equal(can_port_stats(&p)->tx_frames, 2);
    can_port_close(&p);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[256];
    const can_frame_t *want[] = {&f1, &f2};
    int n = 0;
    while (fgets(line, sizeof line, in)) {
        assert_true(n < 2);
        assert_true(line[0] == '(');
        candump_rec_t r;
        assert_int_equal(candump_parse_line(line, strlen(line), &r, NULL), 1);
        assert_true(r.has_time);
        assert_true(r.sec > 1600000000u); /* wall-clock seconds, as candump -L */
        assert_string_equal(r.iface, "can0");
        assert_frame_eq(&r.frame, want[n]);
        n++;
    }
    fclose(in);
    assert_int_equal(n, 2);
    unlink(path);
    /* an unwritable path names itself */
    assert_int_equal(can_port_open(&p, "log:/nonexistent-dir/can.log", 0), TB_ERR_IO);
    assert_string_equal(can_port_error(&p), "log:/nonexistent-dir/can.log: open: No such file or directory");
    can_port_close(&p);
}

static int check_whole_lines(const char *path);

/* log:PATH@SIZE: before a line would take PATH past SIZE it becomes PATH.1 (replacing the older
 * one) and a new PATH begins; both only ever hold whole lines, neither grows past SIZE. Frames of
 * other nodes (the demo's GX) are logged too and counted as received. The default bound applies
 * without '@'. */
static void log_backend_rotates(void **state)
{
    (void)state;
    char dir[] = "/tmp/tbgw-can-rot-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96], old[100], spec[128];
    snprintf(path, sizeof path, "%s/can.log", dir);
    snprintf(old, sizeof old, "%s.1", path);
    snprintf(spec, sizeof spec, "log:%s@1k", path);
    can_port_t p;
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0, 0}};
    can_frame_t gx = {.id = 0x305, .dlc = 8, .flags = 0, .data = {0}};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(can_port_send(&p, &f), 8);
        assert_int_equal(can_port_log_peer(&p, &gx), 8);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size <= 1024);
    }
    assert_int_equal(can_port_stats(&p)->tx_frames, 100);
    assert_int_equal(can_port_stats(&p)->rx_frames, 100);
    assert_true(p.u.log.rotations >= 5u); /* 200 lines of ~46 bytes in 1 KiB files */
    can_port_close(&p);
    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(stat(old, &b), 0);
    assert_true(a.st_size <= 1024 && b.st_size <= 1024 && b.st_size > 1024 - 50);
    int n = check_whole_lines(path) + check_whole_lines(old);
    assert_true(n > 20 && n < 50);
    /* reopened: the size already in the file counts */
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(can_port_send(&p, &f), 8);
        assert_int_equal(stat(path, &a), 0);
        assert_true(a.st_size <= 1024);
    }
    can_port_close(&p);
    /* no '@': the default bound; '@0': none */
    snprintf(spec, sizeof spec, "log:%s", path);
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    assert_int_equal(p.u.log.max_bytes, CAN_PORT_LOG_DEFAULT_MAX);
    can_port_close(&p);
    snprintf(spec, sizeof spec, "log:%s@0", path);
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    assert_int_equal(p.u.log.max_bytes, 0);
    can_port_close(&p);
    /* a bad size is a bad spec: never retried */
    snprintf(spec, sizeof spec, "log:%s@lots", path);
    assert_int_equal(can_port_open(&p, spec, 0), TB_ERR_ARG);
    assert_non_null(strstr(can_port_error(&p), "the size after '@'"));
    /* the other back-ends log no peer frames */
    can_port_t none;
    memset(&none, 0, sizeof none);
    assert_int_equal(can_port_log_peer(&none, &gx), 0);
    unlink(path);
    unlink(old);
    rmdir(dir);
}

/* Every line of the file parses as a candump record and the file ends with a newline. Returns the
 * number of lines. */
static int check_whole_lines(const char *path)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, in)) {
        size_t len = strlen(line);
        assert_true(len > 0 && line[len - 1u] == '\n');
        candump_rec_t r;
        const char *why = NULL;
        if (candump_parse_line(line, len, &r, &why) != 1) {
            fail_msg("line %d does not parse (%s): %s", n + 1, why ? why : "?", line);
        }
        n++;
    }
    fclose(in);
    return n;
}

/* The file system takes part of a line and then nothing (a full disk; here a file-size limit,
 * which cuts write() short the same way): the file keeps whole lines only, the error says why,
 * and once there is room again the next frame clears the error. On the old code the torn line
 * stayed in the file and the error stayed in can_port_error() for good. */
static void log_backend_full_disk(void **state)
{
    (void)state;
    char path[] = "/tmp/tb-canlog-full-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char spec[64];
    snprintf(spec, sizeof spec, "log:%s", path);
    can_port_t p;
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0, 0}};
    assert_int_equal(can_port_send(&p, &f), 8);
    assert_false(can_port_send_failing(&p));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t one = st.st_size; /* one line */

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)(one + one / 2); /* room for half of the next line */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = can_port_send(&p, &f);
    int rc2 = can_port_send(&p, &f); /* nothing fits at all now */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);

    assert_true(rc < 0);
    assert_true(rc2 < 0);
    assert_true(can_port_is_open(&p)); /* a full disk is not a lost port */
    assert_true(can_port_send_failing(&p));
    assert_non_null(strstr(can_port_error(&p), ": write: File too large"));
    assert_int_equal(can_port_stats(&p)->tx_errors, 2);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, one); /* the half line was taken back */
    assert_int_equal(check_whole_lines(path), 1);

    /* room again: the next frame is written and the error is gone */
    assert_int_equal(can_port_send(&p, &f), 8);
    assert_false(can_port_send_failing(&p));
    assert_string_equal(can_port_error(&p), "");
    assert_int_equal(check_whole_lines(path), 2);
    can_port_close(&p);

    /* a torn last line (power cut in the middle of a write) is removed when the file is opened */
    FILE *a = fopen(path, "a");
    assert_non_null(a);
    fputs("(1700000000.1234", a);
    fclose(a);
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    assert_int_equal(check_whole_lines(path), 2);
    assert_int_equal(can_port_send(&p, &f), 8);
    assert_int_equal(check_whole_lines(path), 3);
    can_port_close(&p);
    unlink(path);
}

/* ---- slcan over a pty pair: the test plays the adapter on the master side ------------------ */

static int open_pty(char *slave, size_t cap)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    const char *name = ptsname(m);
    assert_non_null(name);
    snprintf(slave, cap, "%s", name);
    return m;
}

/* Reads from fd until `want` bytes arrived (or a 5 s hang guard expires). */
static size_t read_n(int fd, char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        if (poll(&pfd, 1, 5000) != 1) {
            break;
        }
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

static int recv_wait(can_port_t *p, can_frame_t *f)
{
    for (int i = 0; i < 500; i++) {
        int rc = can_port_recv(p, f);
        if (rc != 0) {
            return rc;
        }
        struct pollfd pfd = {.fd = can_port_fd(p), .events = POLLIN, .revents = 0};
        (void)poll(&pfd, 1, 10);
    }
    return 0;
}

static void slcan_over_pty(void **state)
{
    (void)state;
    char slave[128];
    int m = open_pty(slave, sizeof slave);
    char spec[160];
    snprintf(spec, sizeof spec, "slcan:%s", slave);
    can_port_t p;
    assert_int_equal(can_port_open(&p, spec, 0), TB_OK);
    assert_true(can_port_fd(&p) >= 0);
    /* the adapter sees: empty lines, close, 500 kbit/s, open */
    char buf[256];
    const char init[] = "\r\r\rC\rS6\rO\r";
    assert_int_equal(read_n(m, buf, sizeof init - 1u), sizeof init - 1u);
    assert_string_equal(buf, init);
    /* transmit */
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0, 0}};
    assert_int_equal(can_port_send(&p, &f), 8);
    assert_int_equal(read_n(m, buf, 22), 22);
    assert_string_equal(buf, "t351845024C044C040000\r");
    assert_false(can_port_tx_pending(&p));
    /* receive: adapter OK replies, a BEL, garbage, then the GX's keepalive */
    const char rx[] = "\r\r\a\rgarbage\x01\rt3058\rt3058000000000000000\rt30580000000000000000\r";
    assert_int_equal(write(m, rx, sizeof rx - 1u), (ssize_t)(sizeof rx - 1u));
    can_frame_t g;
    assert_int_equal(recv_wait(&p, &g), 1);
    assert_int_equal(g.id, 0x305);
    assert_int_equal(g.dlc, 8);
    const can_port_stats_t *st = can_port_stats(&p);
    assert_int_equal(st->rx_frames, 1);
    assert_int_equal(st->adapter_errors, 1);
    assert_int_equal(st->rx_errors, 3); /* control byte line, two malformed frame lines */
    assert_int_equal(can_port_recv(&p, &g), 0);
    /* the adapter disappears (USB unplugged): reported, then retried with backoff */
    close(m);
    int rc = recv_wait(&p, &g);
    assert_true(rc < 0);
    assert_false(can_port_is_open(&p));
    assert_true(starts_with(can_port_error(&p), spec));
    assert_true(p.need_reopen);
    assert_int_equal(can_port_send(&p, &f), TB_ERR_STATE);
    can_port_close(&p);
}

static void slcan_reopen_after_loss(void **state)
{
    (void)state;
    char slave[128];
    int m = open_pty(slave, sizeof slave);
    char spec[160];
    snprintf(spec, sizeof spec, "slcan:%s", slave);
    can_port_t p;
    assert_int_equal(can_port_open(&p, spec, 1000), TB_OK);
    char buf[64];
    assert_int_equal(read_n(m, buf, 10), 10);
    /* the back-end declares the device lost (as after a read error) */
    can_port_lost(&p, EIO, "read");
    assert_false(can_port_is_open(&p));
    char want[256];
    snprintf(want, sizeof want, "%s: read: Input/output error", spec);
    assert_string_equal(can_port_error(&p), want);
    assert_int_equal(read_n(m, buf, 2), 2); /* closing sends "C" to the adapter */
    assert_string_equal(buf, "C\r");
    can_port_service(&p, 1050);
    assert_false(can_port_is_open(&p));
    can_port_service(&p, 1000 + CAN_PORT_BACKOFF_MIN_MS);
    assert_true(can_port_is_open(&p));
    assert_int_equal(can_port_stats(&p)->reopens, 1);
    assert_int_equal(read_n(m, buf, 10), 10); /* the adapter is initialised again */
    assert_string_equal(buf, "\r\r\rC\rS6\rO\r");
    can_frame_t f = {.id = 0x355, .dlc = 8, .flags = 0, .data = {0x32, 0, 0x64, 0, 0, 0, 0, 0}};
    assert_int_equal(can_port_send(&p, &f), 8);
    assert_int_equal(read_n(m, buf, 22), 22);
    assert_string_equal(buf, "t35583200640000000000\r");
    can_port_close(&p);
    close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_errors),
        cmocka_unit_test(missing_devices_are_retried_with_backoff),
        cmocka_unit_test(error_frame_classification),
        cmocka_unit_test(socketcan_vcan_loopback),
        cmocka_unit_test(log_backend),
        cmocka_unit_test(log_backend_full_disk),
        cmocka_unit_test(log_backend_rotates),
        cmocka_unit_test(slcan_over_pty),
        cmocka_unit_test(slcan_reopen_after_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "ports/linux/tb_link.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "ports/linux/clock.h"
#include "ports/linux/serial.h"

static void trace(FILE *f, const char *dir, const uint8_t *b, size_t n, uint32_t now)
{
    if (!f || n == 0) {
        return;
    }
    fprintf(f, "[%10u ms] %s", now, dir);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, " %02X", b[i]);
    }
    fputc('\n', f);
}

int tb_link_run_job(tb_link_t *l, const tb_job_t *job, int timeout_ms, char *err, size_t errlen)
{
    int rc = tb_poll_submit(l->poll, job);
    if (rc != TB_OK) {
        snprintf(err, errlen, "invalid request: %s", tb_err_str(rc));
        return rc;
    }
    uint32_t start = linux_now_ms();
    for (;;) {
        uint32_t now = linux_now_ms();
        uint8_t tx[TB_FRAME_MAX];
        int n = tb_poll_step(l->poll, now, tx, sizeof tx);
        if (n > 0) {
            trace(l->trace, "tx", tx, (size_t)n, now);
            if (serial_write_all(l->fd, tx, (size_t)n, 1000) != 0) {
                snprintf(err, errlen, "write to the serial port failed: %s", strerror(errno));
                return TB_ERR_IO;
            }
        }
        if (tb_poll_job_done(l->poll)) {
            return tb_poll_job_result(l->poll)->rc;
        }
        int32_t left = (int32_t)(start + (uint32_t)timeout_ms - now);
        if (left <= 0) {
            snprintf(err, errlen, "no complete answer within %d ms", timeout_ms);
            return TB_ERR_TIMEOUT;
        }
        uint32_t wait = tb_poll_wait_ms(l->poll, now);
        if (wait > (uint32_t)left) {
            wait = (uint32_t)left;
        }
        struct pollfd pfd = {l->fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)wait);
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll on the serial port failed: %s", strerror(errno));
            return TB_ERR_IO;
        }
        if (pr > 0 && (pfd.revents & (POLLERR | POLLNVAL))) {
            snprintf(err, errlen, "serial port error (adapter unplugged?)");
            return TB_ERR_IO;
        }
        if (pr > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
            uint8_t rx[512];
            ssize_t k = serial_read(l->fd, rx, sizeof rx);
            if (k < 0) {
                snprintf(err, errlen, "read from the serial port failed: %s", strerror(errno));
                return TB_ERR_IO;
            }
            if (k == 0 && (pfd.revents & POLLHUP)) {
                /* a pty whose other end is closed: nothing will ever arrive; wait out the timeout */
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
            now = linux_now_ms();
            trace(l->trace, "rx", rx, (size_t)k, now);
            tb_poll_rx(l->poll, rx, (size_t)k, now);
        }
    }
}

/* The log: back-end: every transmitted frame appended to a file as a candump -L line. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/tb_err.h"
#include "ports/linux/can_candump.h"
#include "ports/linux/can_port.h"

static int lg_open(can_port_t *p)
{
    if (p->dev[0] == '\0') {
        return can_port_fail(p, TB_ERR_ARG, 0, "missing log file path");
    }
    int fd = open(p->dev, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        return can_port_fail(p, TB_ERR_IO, errno, "open");
    }
    p->fd = fd;
    memcpy(p->u.log.iface, "can0", 5);
    return TB_OK;
}

static int lg_send(can_port_t *p, const can_frame_t *f)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        p->stats.tx_errors++;
        return can_port_fail(p, TB_ERR_IO, errno, "clock_gettime");
    }
    candump_rec_t rec;
    memset(&rec, 0, sizeof rec);
    rec.has_time = true;
    rec.sec = (uint64_t)ts.tv_sec;
    rec.usec = (uint32_t)(ts.tv_nsec / 1000);
    memcpy(rec.iface, p->u.log.iface, sizeof p->u.log.iface);
    rec.frame = *f;
    char line[CANDUMP_LINE_MAX];
    int n = candump_format_line(line, sizeof line - 1u, &rec);
    if (n < 0) {
        p->stats.tx_errors++;
        return can_port_fail(p, n, 0, "send: frame cannot be logged");
    }
    line[n++] = '\n';
    /* O_APPEND: one write per line keeps lines whole even if another writer appends too. */
    for (;;) {
        ssize_t w = write(p->fd, line, (size_t)n);
        if (w == n) {
            p->stats.tx_frames++;
            return (int)f->dlc;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        int e = w < 0 ? errno : ENOSPC;
        p->stats.tx_errors++;
        return can_port_fail(p, TB_ERR_IO, e, "write");
    }
}

static int lg_recv(can_port_t *p, can_frame_t *f)
{
    (void)p;
    (void)f;
    return 0; /* a log receives nothing */
}

static void lg_close(can_port_t *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    p->fd = -1;
}

const can_port_ops_t can_port_log_ops = {"log", lg_open, lg_send, lg_recv, NULL, lg_close};

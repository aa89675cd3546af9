/* The log: back-end: every transmitted frame appended to a file as a candump -L line.
 *
 * The file only ever holds whole lines. A line is built completely and handed to one write(); if
 * the file system takes only part of it (a full disk accepts what fits in its last block), the
 * rest is tried once more, and if that fails too the file is truncated back to where the line
 * began. Truncating (rather than keeping the rest buffered to finish later) means the file is
 * readable at every instant, also while the disk stays full and if the gateway stops before
 * there is space again; the frame is lost either way, and counted as a send error. A torn
 * last line left by a power cut is removed when the file is opened.
 *
 * The file is bounded ("log:PATH@SIZE", default CAN_PORT_LOG_DEFAULT_MAX): before a line would take
 * it past SIZE, PATH is renamed to PATH.1 (replacing the older one) and a new PATH is started, so
 * the frames of the last SIZE to 2 x SIZE bytes are kept. If the rename fails the file is emptied
 * instead (the bound wins over the history), with a warning. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/can_sched.h"
#include "app/log.h"
#include "core/tb_err.h"
#include "ports/linux/can_candump.h"
#include "ports/linux/can_port.h"

/* Length of the file up to and including its last newline (0 if it has none), or -1 if it cannot
 * be read (then it is left alone). */
static off_t complete_length(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return -1;
    }
    off_t end = st.st_size;
    char buf[512];
    while (end > 0) {
        size_t n = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
        ssize_t k = pread(fd, buf, n, end - (off_t)n);
        if (k != (ssize_t)n) {
            return -1;
        }
        for (size_t i = n; i > 0; i--) {
            if (buf[i - 1u] == '\n') {
                return end - (off_t)n + (off_t)i;
            }
        }
        end -= (off_t)n;
    }
    return 0;
}

static int open_file(const char *path)
{
    /* O_RDWR: the tail check reads the end of the file; write-only if reading is not allowed */
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0 && errno == EACCES) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    }
    return fd;
}

static int lg_open(can_port_t *p)
{
    char *at = strrchr(p->dev, '@');
    uint64_t max = CAN_PORT_LOG_DEFAULT_MAX;
    if (at && !can_sched_log_size(at + 1, &max)) {
        return can_port_fail(p, TB_ERR_ARG, 0, "the size after '@' must be bytes with an optional k or M suffix");
    }
    size_t plen = at ? (size_t)(at - p->dev) : strlen(p->dev);
    if (plen == 0u) {
        return can_port_fail(p, TB_ERR_ARG, 0, "missing log file path");
    }
    memcpy(p->u.log.path, p->dev, plen);
    p->u.log.path[plen] = '\0';
    p->u.log.max_bytes = max;
    int fd = open_file(p->u.log.path);
    if (fd < 0) {
        return can_port_fail(p, TB_ERR_IO, errno, "open");
    }
    off_t cut = complete_length(fd);
    struct stat st;
    if (cut >= 0 && fstat(fd, &st) == 0 && cut < st.st_size) {
        if (ftruncate(fd, cut) != 0) {
            int e = errno;
            close(fd);
            return can_port_fail(p, TB_ERR_IO, e, "removing a torn last line");
        }
        LOGW("can", "%s: removed a torn last line (%lld bytes, left by a power cut or a full disk)", p->u.log.path,
             (long long)(st.st_size - cut));
    }
    p->fd = fd;
    p->u.log.size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0u;
    memcpy(p->u.log.iface, "can0", 5);
    return TB_OK;
}

/* PATH -> PATH.1 and a new PATH; if that fails, PATH emptied. The caller's line goes to the new file. */
static void rotate(can_port_t *p)
{
    char old[CAN_PORT_SPEC_MAX + 4];
    snprintf(old, sizeof old, "%s.1", p->u.log.path);
    if (rename(p->u.log.path, old) == 0) {
        int fd = open_file(p->u.log.path);
        if (fd >= 0) {
            close(p->fd);
            p->fd = fd;
            p->u.log.size = 0;
            p->u.log.rotations++;
            LOGI("can", "%s reached %llu bytes: kept as %s, a new log begins", p->u.log.path,
                 (unsigned long long)p->u.log.max_bytes, old);
            return;
        }
        LOGW("can", "%s: cannot create it again after keeping the old log as %s: %s; emptying the old one instead",
             p->u.log.path, old, strerror(errno));
    } else {
        LOGW("can", "%s reached %llu bytes and cannot be renamed to %s: %s; emptying it instead", p->u.log.path,
             (unsigned long long)p->u.log.max_bytes, old, strerror(errno));
    }
    if (ftruncate(p->fd, 0) == 0) {
        p->u.log.size = 0;
        p->u.log.rotations++;
    }
}

static int lg_write(can_port_t *p, const can_frame_t *f)
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
    if (p->u.log.max_bytes > 0u && p->u.log.size > 0u && p->u.log.size + (uint64_t)n > p->u.log.max_bytes) {
        rotate(p);
    }
    /* O_APPEND: the line goes to the end, in one write() when the file system has room for it. */
    size_t done = 0;
    off_t start = -1; /* where the line began, known once a write was cut short */
    for (;;) {
        ssize_t w = write(p->fd, line + done, (size_t)n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w > 0) {
            if (done == 0u && (size_t)w < (size_t)n) {
                off_t pos = lseek(p->fd, 0, SEEK_CUR); /* after an O_APPEND write: the end of our bytes */
                start = pos < 0 ? -1 : pos - (off_t)w;
            }
            done += (size_t)w;
            if (done == (size_t)n) {
                p->u.log.size += (uint64_t)n;
                return (int)f->dlc;
            }
            continue; /* the rest once more: the next write() says why it does not fit */
        }
        int e = w < 0 ? errno : ENOSPC;
        p->stats.tx_errors++;
        if (done > 0u && (start < 0 || ftruncate(p->fd, start) != 0)) {
            /* the torn line cannot be taken back now: the reopen removes it */
            can_port_lost(p, start < 0 ? EIO : errno, "write cut short, and the torn line cannot be removed; reopening");
            return TB_ERR_IO;
        }
        return can_port_fail(p, e == ENOSPC || e == EDQUOT ? TB_ERR_NOSPACE : TB_ERR_IO, e, "write");
    }
}

static int lg_send(can_port_t *p, const can_frame_t *f)
{
    int rc = lg_write(p, f);
    if (rc >= 0) {
        p->stats.tx_frames++;
    }
    return rc;
}

int can_port_log_peer(can_port_t *p, const can_frame_t *f)
{
    if (!p || !f || p->ops != &can_port_log_ops || p->fd < 0) {
        return 0;
    }
    int rc = lg_write(p, f);
    if (rc >= 0) {
        p->stats.rx_frames++;
    }
    return rc;
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

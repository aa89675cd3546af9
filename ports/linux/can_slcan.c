/* cfmakeraw, CRTSCTS, struct ifreq: outside POSIX proper. */
#define _DEFAULT_SOURCE
#include "ports/linux/can_slcan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/tb_err.h"
#include "ports/linux/can_port.h"

/* ---- pure protocol part --------------------------------------------------------------------- */

int slcan_parse_line(const char *line, size_t len, can_frame_t *out)
{
    if (!line) {
        return TB_ERR_ARG;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20u || c > 0x7Eu) {
            return TB_ERR_FORMAT;
        }
    }
    if (len == 0u) {
        return SLCAN_LINE_ACK;
    }
    char kind = line[0];
    if (len == 1u && (kind == 'z' || kind == 'Z')) {
        return SLCAN_LINE_ACK;
    }
    size_t idlen;
    uint8_t flags;
    switch (kind) {
    case 't': idlen = 3; flags = 0; break;
    case 'T': idlen = 8; flags = CAN_FLAG_EXT; break;
    case 'r': idlen = 3; flags = CAN_FLAG_RTR; break;
    case 'R': idlen = 8; flags = CAN_FLAG_EXT | CAN_FLAG_RTR; break;
    default: return SLCAN_LINE_OTHER;
    }
    /* kind + id + dlc digit */
    if (len < 1u + idlen + 1u) {
        return TB_ERR_FORMAT;
    }
    uint32_t id;
    if (!tb_hex_u32(&line[1], idlen, &id)) {
        return TB_ERR_FORMAT;
    }
    if (id > ((flags & CAN_FLAG_EXT) ? CAN_FRAME_EFF_MASK : CAN_FRAME_SFF_MASK)) {
        return TB_ERR_FORMAT;
    }
    char d = line[1 + idlen];
    if (d < '0' || d > '8') {
        return TB_ERR_FORMAT;
    }
    uint8_t dlc = (uint8_t)(d - '0');
    size_t pos = 2u + idlen;
    size_t datalen = (flags & CAN_FLAG_RTR) ? 0u : 2u * dlc;
    size_t rest = len - pos;
    if (rest != datalen && rest != datalen + 4u) { /* optional 4-digit timestamp */
        return TB_ERR_FORMAT;
    }
    can_frame_t f;
    memset(&f, 0, sizeof f);
    f.id = id;
    f.dlc = dlc;
    f.flags = flags;
    for (size_t i = 0; i < datalen / 2u; i++) {
        uint32_t b;
        if (!tb_hex_u32(&line[pos + 2u * i], 2, &b)) {
            return TB_ERR_FORMAT;
        }
        f.data[i] = (uint8_t)b;
    }
    if (rest == datalen + 4u) {
        uint32_t ts;
        if (!tb_hex_u32(&line[pos + datalen], 4, &ts)) {
            return TB_ERR_FORMAT;
        }
    }
    if (out) {
        *out = f;
    }
    return SLCAN_LINE_FRAME;
}

int slcan_format(const can_frame_t *f, char *buf, size_t cap)
{
    if (!f || !buf || !can_frame_valid(f) || (f->flags & CAN_FLAG_ERR)) {
        return TB_ERR_ARG;
    }
    bool ext = (f->flags & CAN_FLAG_EXT) != 0u;
    bool rtr = (f->flags & CAN_FLAG_RTR) != 0u;
    size_t idlen = ext ? 8u : 3u;
    size_t need = 1u + idlen + 1u + (rtr ? 0u : 2u * f->dlc) + 1u;
    if (cap < need) {
        return TB_ERR_NOSPACE;
    }
    size_t k = 0;
    buf[k++] = rtr ? (ext ? 'R' : 'r') : (ext ? 'T' : 't');
    k += tb_hex_put(buf + k, f->id, idlen);
    buf[k++] = (char)('0' + f->dlc);
    if (!rtr) {
        k += tb_hex_bytes(buf + k, f->data, f->dlc);
    }
    buf[k++] = '\r';
    if (k < cap) {
        buf[k] = '\0';
    }
    return (int)k;
}

void slcan_rx_init(slcan_rx_t *rx)
{
    memset(rx, 0, sizeof *rx);
}

int slcan_rx_byte(slcan_rx_t *rx, uint8_t b, can_frame_t *out)
{
    if (b == 0x07u) { /* BEL: the adapter refused a command */
        rx->n.bells++;
        if (rx->len > 0u || rx->overflow) {
            rx->n.bad++;
        }
        rx->len = 0;
        rx->overflow = false;
        return 0;
    }
    if (b == '\r' || b == '\n') {
        if (rx->overflow) {
            rx->overflow = false;
            rx->len = 0;
            rx->n.overlong++;
            return 0;
        }
        if (b == '\n' && rx->len == 0u) {
            return 0; /* the LF of a CR LF pair: not a second (empty) reply */
        }
        can_frame_t f;
        int kind = slcan_parse_line(rx->line, rx->len, &f);
        rx->len = 0;
        switch (kind) {
        case SLCAN_LINE_FRAME:
            rx->n.frames++;
            if (out) {
                *out = f;
            }
            return 1;
        case SLCAN_LINE_ACK:
            rx->n.acks++;
            return 0;
        case SLCAN_LINE_OTHER:
            rx->n.others++;
            return 0;
        default:
            rx->n.bad++;
            return 0;
        }
    }
    if (rx->overflow) {
        return 0;
    }
    if (rx->len >= SLCAN_LINE_MAX) {
        rx->overflow = true; /* drop the whole line, whatever follows */
        rx->len = 0;
        return 0;
    }
    rx->line[rx->len++] = (char)b;
    return 0;
}

/* ---- the slcan: back-end -------------------------------------------------------------------- */

static speed_t baud_const(unsigned baud)
{
    switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    case 1000000: return B1000000;
    case 2000000: return B2000000;
    case 3000000: return B3000000;
    default: return B0;
    }
}

/* Writes queued bytes; keeps what the tty does not take now. Returns TB_OK or an error. */
static int flush_tx(can_port_t *p)
{
    while (p->u.sl.tx_len > 0u && p->fd >= 0) {
        ssize_t n = write(p->fd, p->u.sl.tx, p->u.sl.tx_len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return TB_OK;
            }
            int e = errno;
            p->stats.tx_errors++;
            can_port_lost(p, e, "write");
            return TB_ERR_IO;
        }
        size_t w = (size_t)n;
        memmove(p->u.sl.tx, p->u.sl.tx + w, p->u.sl.tx_len - w);
        p->u.sl.tx_len -= w;
    }
    return TB_OK;
}

static int queue(can_port_t *p, const char *s, size_t n)
{
    if (p->u.sl.tx_len + n > sizeof p->u.sl.tx) {
        return TB_ERR_NOSPACE;
    }
    memcpy(p->u.sl.tx + p->u.sl.tx_len, s, n);
    p->u.sl.tx_len += n;
    return TB_OK;
}

static int sl_open(can_port_t *p)
{
    /* dev may carry "@BAUD" */
    char path[CAN_PORT_SPEC_MAX];
    snprintf(path, sizeof path, "%s", p->dev);
    p->u.sl.baud = 115200;
    char *at = strrchr(path, '@');
    if (at) {
        char *end = NULL;
        unsigned long b = strtoul(at + 1, &end, 10);
        if (!end || *end != '\0' || baud_const((unsigned)b) == B0 || b > 3000000ul) {
            return can_port_fail(p, TB_ERR_ARG, 0, "unsupported tty baud rate after '@'");
        }
        p->u.sl.baud = (unsigned)b;
        *at = '\0';
    }
    if (path[0] == '\0') {
        return can_port_fail(p, TB_ERR_ARG, 0, "missing device path");
    }
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return can_port_fail(p, TB_ERR_IO, errno, "open");
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        int e = errno;
        close(fd);
        return can_port_fail(p, TB_ERR_IO, e, "tcgetattr (not a tty?)");
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= (tcflag_t)~(CRTSCTS | CSTOPB);
    /* VMIN 1 with O_NONBLOCK: an idle read fails with EAGAIN, so that a read of 0 bytes can only
     * mean hang-up (with VMIN 0 Linux returns 0 for "no data" as well). */
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    speed_t sp = baud_const(p->u.sl.baud);
    if (cfsetispeed(&tio, sp) != 0 || cfsetospeed(&tio, sp) != 0 || tcsetattr(fd, TCSANOW, &tio) != 0) {
        int e = errno;
        close(fd);
        return can_port_fail(p, TB_ERR_IO, e, "tcsetattr");
    }
    if (tcflush(fd, TCIOFLUSH) != 0) {
        int e = errno;
        close(fd);
        return can_port_fail(p, TB_ERR_IO, e, "tcflush");
    }
    p->fd = fd;
    slcan_rx_init(&p->u.sl.rx);
    p->u.sl.in_pos = p->u.sl.in_len = 0;
    p->u.sl.tx_len = 0;
    /* Empty lines clear a half-typed command in the adapter; close (an open channel refuses a
     * bit rate change), 500 kbit/s, open. Replies ("\r" or BEL) are read and counted later. */
    static const char init[] = "\r\r\rC\rS6\rO\r";
    (void)queue(p, init, sizeof init - 1u);
    return flush_tx(p) == TB_OK ? TB_OK : TB_ERR_IO;
}

static int sl_send(can_port_t *p, const can_frame_t *f)
{
    char line[SLCAN_LINE_MAX + 2u];
    int n = slcan_format(f, line, sizeof line);
    if (n < 0) {
        p->stats.tx_errors++;
        return can_port_fail(p, n, 0, "send: frame cannot be expressed in slcan");
    }
    if (queue(p, line, (size_t)n) != TB_OK) {
        p->stats.tx_dropped++;
        return can_port_fail(p, TB_ERR_NOSPACE, 0, "send: adapter not draining (transmit buffer full), frame dropped");
    }
    int rc = flush_tx(p);
    if (rc != TB_OK) {
        return rc;
    }
    p->stats.tx_frames++;
    return (int)f->dlc;
}

static int sl_recv(can_port_t *p, can_frame_t *f)
{
    for (;;) {
        while (p->u.sl.in_pos < p->u.sl.in_len) {
            uint32_t bells = p->u.sl.rx.n.bells;
            uint32_t bad = p->u.sl.rx.n.bad + p->u.sl.rx.n.overlong;
            int got = slcan_rx_byte(&p->u.sl.rx, p->u.sl.in[p->u.sl.in_pos++], f);
            p->stats.adapter_errors += p->u.sl.rx.n.bells - bells;
            p->stats.rx_errors += (p->u.sl.rx.n.bad + p->u.sl.rx.n.overlong) - bad;
            if (got) {
                p->stats.rx_frames++;
                return 1;
            }
        }
        if (p->fd < 0) {
            return 0;
        }
        ssize_t n = read(p->fd, p->u.sl.in, sizeof p->u.sl.in);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            int e = errno;
            p->stats.rx_errors++;
            can_port_lost(p, e, "read");
            return TB_ERR_IO;
        }
        if (n == 0) {
            /* idle reads give EAGAIN (VMIN 1, O_NONBLOCK): 0 bytes means hang-up */
            p->stats.rx_errors++;
            can_port_lost(p, 0, "read: device hung up");
            return TB_ERR_IO;
        }
        p->u.sl.in_pos = 0;
        p->u.sl.in_len = (size_t)n;
    }
}

static void sl_service(can_port_t *p, uint32_t now_ms)
{
    (void)now_ms;
    if (p->fd >= 0) {
        (void)flush_tx(p);
    }
}

static void sl_close(can_port_t *p)
{
    if (p->fd >= 0) {
        /* Best effort: close the CAN channel so the adapter stops acknowledging frames. */
        static const char c[] = "C\r";
        ssize_t n = write(p->fd, c, sizeof c - 1u);
        (void)n;
        close(p->fd);
    }
    p->fd = -1;
    p->u.sl.tx_len = 0;
}

const can_port_ops_t can_port_slcan_ops = {"slcan", sl_open, sl_send, sl_recv, sl_service, sl_close};

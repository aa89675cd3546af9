/* cfmakeraw, CRTSCTS, struct ifreq: outside POSIX proper. */
#define _DEFAULT_SOURCE
#include "ports/linux/can_socketcan.h"

#include <errno.h>
#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/netlink.h>
#include <linux/can/raw.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tb_err.h"
#include "ports/linux/can_port.h"

void can_socketcan_classify(uint32_t err_id, const uint8_t *data, uint8_t dlc, can_err_class_t *out)
{
    uint8_t d[CAN_FRAME_MAX_DLC] = {0};
    if (data) {
        memcpy(d, data, dlc > CAN_FRAME_MAX_DLC ? CAN_FRAME_MAX_DLC : dlc);
    }
    memset(out, 0, sizeof *out);
    out->tx_timeout = (err_id & CAN_ERR_TX_TIMEOUT) != 0u;
    out->lost_arbitration = (err_id & CAN_ERR_LOSTARB) != 0u;
    out->controller = (err_id & CAN_ERR_CRTL) != 0u;
    if (out->controller) {
        out->rx_overflow = (d[1] & (CAN_ERR_CRTL_RX_OVERFLOW | CAN_ERR_CRTL_TX_OVERFLOW)) != 0u;
        out->error_warning = (d[1] & (CAN_ERR_CRTL_RX_WARNING | CAN_ERR_CRTL_TX_WARNING)) != 0u;
        out->error_passive = (d[1] & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE)) != 0u;
        out->back_to_active = (d[1] & CAN_ERR_CRTL_ACTIVE) != 0u;
    }
    out->protocol = (err_id & CAN_ERR_PROT) != 0u;
    out->transceiver = (err_id & CAN_ERR_TRX) != 0u;
    out->no_ack = (err_id & CAN_ERR_ACK) != 0u;
    out->bus_off = (err_id & CAN_ERR_BUSOFF) != 0u;
    out->bus_error = (err_id & CAN_ERR_BUSERROR) != 0u;
    out->restarted = (err_id & CAN_ERR_RESTARTED) != 0u;
}

/* ---- netlink: ask the kernel to restart a bus-off controller (what `ip link set can0 type can
 * restart` does). Needs CAP_NET_ADMIN and works only when the interface's restart-ms is 0; with
 * restart-ms set the kernel restarts by itself and this request is refused harmlessly. -------- */

static struct rtattr *nl_add(struct nlmsghdr *n, size_t cap, unsigned short type, const void *data, size_t len)
{
    size_t rlen = RTA_LENGTH(len);
    if (NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rlen) > cap) {
        return NULL;
    }
    struct rtattr *rta = (struct rtattr *)(void *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = (unsigned short)rlen;
    if (len) {
        memcpy(RTA_DATA(rta), data, len);
    }
    n->nlmsg_len = (uint32_t)(NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rlen));
    return rta;
}

static void nl_end(struct nlmsghdr *n, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)n + n->nlmsg_len - (char *)nest);
}

/* 0 or an errno value. */
static int netlink_restart(int ifindex)
{
    struct {
        struct nlmsghdr n;
        struct ifinfomsg i;
        char attrs[128];
    } req;
    memset(&req, 0, sizeof req);
    req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    req.n.nlmsg_type = RTM_NEWLINK;
    req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.n.nlmsg_seq = 1;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_index = ifindex;
    uint32_t one = 1;
    struct rtattr *linkinfo = nl_add(&req.n, sizeof req, IFLA_LINKINFO, NULL, 0);
    if (!linkinfo || !nl_add(&req.n, sizeof req, IFLA_INFO_KIND, "can", 3)) {
        return ENOBUFS;
    }
    struct rtattr *data = nl_add(&req.n, sizeof req, IFLA_INFO_DATA, NULL, 0);
    if (!data || !nl_add(&req.n, sizeof req, IFLA_CAN_RESTART, &one, sizeof one)) {
        return ENOBUFS;
    }
    nl_end(&req.n, data);
    nl_end(&req.n, linkinfo);

    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        return errno;
    }
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    /* rtnetlink handles the request inside sendto(): the acknowledgement is already queued. */
    union {
        struct nlmsghdr n;
        char buf[512];
    } ans;
    ssize_t got = recv(fd, &ans, sizeof ans, MSG_DONTWAIT);
    int e = got < 0 ? errno : 0;
    close(fd);
    if (got < 0) {
        return e;
    }
    if ((size_t)got < NLMSG_LENGTH(sizeof(struct nlmsgerr)) || ans.n.nlmsg_type != NLMSG_ERROR) {
        return EPROTO;
    }
    const struct nlmsgerr *ne = (const struct nlmsgerr *)NLMSG_DATA(&ans.n);
    return ne->error < 0 ? -ne->error : 0;
}

/* ---- the socketcan: back-end ---------------------------------------------------------------- */

static int sc_open(can_port_t *p)
{
    size_t n = strlen(p->dev);
    if (n == 0u || n >= IFNAMSIZ) {
        return can_port_fail(p, TB_ERR_ARG, 0, "interface name empty or longer than 15 characters");
    }
    int fd = socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
    if (fd < 0) {
        return can_port_fail(p, TB_ERR_IO, errno, "socket(PF_CAN, SOCK_RAW, CAN_RAW)");
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, p->dev, n);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
        int e = errno;
        close(fd);
        return can_port_fail(p, TB_ERR_IO, e, "no such CAN interface (SIOCGIFINDEX)");
    }
    p->u.sock.ifindex = ifr.ifr_ifindex;
    if (p->u.sock.restart_pending) {
        p->u.sock.restart_pending = false;
        int e = netlink_restart(p->u.sock.ifindex);
        if (e == 0) {
            p->stats.restarts++;
        } else {
            /* Recorded for the operator; the kernel's restart-ms may still recover the bus. */
            (void)can_port_fail(p, TB_OK, e, "bus-off restart request refused (set restart-ms on the interface)");
        }
    }
    can_err_mask_t mask = CAN_ERR_MASK;
    if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &mask, sizeof mask) != 0) {
        int e = errno;
        close(fd);
        return can_port_fail(p, TB_ERR_IO, e, "setsockopt(CAN_RAW_ERR_FILTER)");
    }
    struct sockaddr_can addr;
    memset(&addr, 0, sizeof addr);
    addr.can_family = AF_CAN;
    addr.can_ifindex = p->u.sock.ifindex;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        close(fd);
        return can_port_fail(p, TB_ERR_IO, e, "bind");
    }
    p->fd = fd;
    return TB_OK;
}

static int sc_send(can_port_t *p, const can_frame_t *f)
{
    if (!can_frame_valid(f) || (f->flags & CAN_FLAG_ERR)) {
        p->stats.tx_errors++;
        return can_port_fail(p, TB_ERR_ARG, 0, "send: invalid frame");
    }
    struct can_frame cf;
    memset(&cf, 0, sizeof cf);
    cf.can_id = f->id;
    if (f->flags & CAN_FLAG_EXT) {
        cf.can_id |= CAN_EFF_FLAG;
    }
    if (f->flags & CAN_FLAG_RTR) {
        cf.can_id |= CAN_RTR_FLAG;
    }
    cf.can_dlc = f->dlc;
    memcpy(cf.data, f->data, f->dlc);
    for (;;) {
        ssize_t n = write(p->fd, &cf, sizeof cf);
        if (n == (ssize_t)sizeof cf) {
            p->stats.tx_frames++;
            return (int)f->dlc;
        }
        if (n >= 0) {
            p->stats.tx_errors++;
            return can_port_fail(p, TB_ERR_IO, 0, "send: short write");
        }
        int e = errno;
        if (e == EINTR) {
            continue;
        }
        if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
            /* Driver queue full: typical of bus-off or of a bus with nobody acknowledging. */
            p->stats.tx_dropped++;
            return can_port_fail(p, TB_ERR_BUSY, e, "send: transmit queue full, frame dropped");
        }
        p->stats.tx_errors++;
        if (e == ENETDOWN || e == ENXIO || e == ENODEV) {
            p->stats.state = CAN_BUS_DOWN;
            can_port_lost(p, e, "send");
            return TB_ERR_IO;
        }
        return can_port_fail(p, TB_ERR_IO, e, "send");
    }
}

static void account_error(can_port_t *p, const can_frame_t *f)
{
    can_err_class_t c;
    can_socketcan_classify(f->id, f->data, f->dlc, &c);
    p->stats.err_frames++;
    if (c.no_ack) {
        p->stats.no_ack++;
    }
    if (c.error_warning) {
        p->stats.error_warning++;
        p->stats.state = CAN_BUS_WARNING;
    }
    if (c.error_passive) {
        p->stats.error_passive++;
        p->stats.state = CAN_BUS_PASSIVE;
    }
    if (c.back_to_active || c.restarted) {
        p->stats.state = CAN_BUS_ACTIVE;
        if (c.restarted) {
            p->stats.restarts++;
        }
    }
    if (c.bus_off) {
        p->stats.bus_off++;
        p->stats.state = CAN_BUS_OFF;
        p->u.sock.restart_pending = true;
        can_port_lost(p, 0, "bus-off (controller stopped transmitting); restarting");
    }
}

static int sc_recv(can_port_t *p, can_frame_t *f)
{
    if (p->fd < 0) {
        return 0;
    }
    struct can_frame cf;
    for (;;) {
        ssize_t n = read(p->fd, &cf, sizeof cf);
        if (n < 0) {
            int e = errno;
            if (e == EINTR) {
                continue;
            }
            if (e == EAGAIN || e == EWOULDBLOCK) {
                return 0;
            }
            p->stats.rx_errors++;
            if (e == ENETDOWN || e == ENXIO || e == ENODEV) {
                p->stats.state = CAN_BUS_DOWN;
            }
            can_port_lost(p, e, "read");
            return TB_ERR_IO;
        }
        if (n != (ssize_t)sizeof cf || cf.can_dlc > CAN_MAX_DLC) {
            p->stats.rx_errors++;
            return can_port_fail(p, TB_ERR_FORMAT, 0, "read: unexpected frame size");
        }
        break;
    }
    memset(f, 0, sizeof *f);
    f->dlc = cf.can_dlc;
    memcpy(f->data, cf.data, f->dlc);
    if (cf.can_id & CAN_ERR_FLAG) {
        f->id = cf.can_id & CAN_ERR_MASK;
        f->flags = CAN_FLAG_ERR;
        account_error(p, f);
        return 1;
    }
    if (cf.can_id & CAN_EFF_FLAG) {
        f->id = cf.can_id & CAN_EFF_MASK;
        f->flags = CAN_FLAG_EXT;
    } else {
        f->id = cf.can_id & CAN_SFF_MASK;
    }
    if (cf.can_id & CAN_RTR_FLAG) {
        f->flags |= CAN_FLAG_RTR;
        f->dlc = cf.can_dlc;
        memset(f->data, 0, sizeof f->data);
    }
    p->stats.rx_frames++;
    if (p->stats.state == CAN_BUS_OFF || p->stats.state == CAN_BUS_DOWN) {
        p->stats.state = CAN_BUS_ACTIVE; /* traffic flows again */
    }
    return 1;
}

static void sc_close(can_port_t *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    p->fd = -1;
}

const can_port_ops_t can_port_socketcan_ops = {"socketcan", sc_open, sc_send, sc_recv, NULL, sc_close};

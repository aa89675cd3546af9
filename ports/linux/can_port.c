#include "ports/linux/can_port.h"

#include <stdio.h>
#include <string.h>

#include "core/tb_err.h"

int can_port_fail(can_port_t *p, int rc, int errnum, const char *what)
{
    if (errnum) {
        snprintf(p->err, sizeof p->err, "%s: %s: %s", p->spec, what, strerror(errnum));
    } else {
        snprintf(p->err, sizeof p->err, "%s: %s", p->spec, what);
    }
    return rc;
}

static void schedule_retry(can_port_t *p)
{
    p->need_reopen = true;
    p->retry_at_ms = p->now_ms + p->backoff_ms;
    p->backoff_ms = p->backoff_ms * 2u > CAN_PORT_BACKOFF_MAX_MS ? CAN_PORT_BACKOFF_MAX_MS : p->backoff_ms * 2u;
}

void can_port_lost(can_port_t *p, int errnum, const char *what)
{
    (void)can_port_fail(p, TB_ERR_IO, errnum, what);
    if (p->ops && p->ops->close) {
        p->ops->close(p);
    }
    p->fd = -1;
    schedule_retry(p);
}

int can_port_open(can_port_t *p, const char *spec, uint32_t now_ms)
{
    if (!p) {
        return TB_ERR_ARG;
    }
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->now_ms = now_ms;
    p->backoff_ms = CAN_PORT_BACKOFF_MIN_MS;
    if (!spec || strlen(spec) >= sizeof p->spec) {
        snprintf(p->err, sizeof p->err, "CAN port spec missing or longer than %u characters", CAN_PORT_SPEC_MAX - 1u);
        return TB_ERR_ARG;
    }
    snprintf(p->spec, sizeof p->spec, "%s", spec);
    static const struct {
        const char *prefix;
        const can_port_ops_t *ops;
    } kinds[] = {
        {"socketcan:", &can_port_socketcan_ops},
        {"slcan:", &can_port_slcan_ops},
        {"log:", &can_port_log_ops},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(spec, kinds[i].prefix, n) == 0) {
            p->ops = kinds[i].ops;
            snprintf(p->dev, sizeof p->dev, "%s", spec + n);
            break;
        }
    }
    if (!p->ops) {
        snprintf(p->err, sizeof p->err, "%s: not a CAN back-end of the Linux daemon (use socketcan:IFACE, slcan:DEVICE or log:PATH; twai is the ESP32 firmware's)", p->spec);
        return TB_ERR_ARG;
    }
    int rc = p->ops->open(p);
    if (rc == TB_ERR_ARG) {
        p->ops = NULL; /* the spec itself is wrong: never retry */
        return rc;
    }
    if (rc != TB_OK) {
        p->fd = -1;
        schedule_retry(p);
        return rc;
    }
    return TB_OK;
}

void can_port_close(can_port_t *p)
{
    if (p && p->ops && p->ops->close) {
        p->ops->close(p);
    }
    if (p) {
        p->fd = -1;
        p->need_reopen = false;
    }
}

bool can_port_is_open(const can_port_t *p)
{
    return p && p->ops && p->fd >= 0;
}

int can_port_send(can_port_t *p, const can_frame_t *f)
{
    if (!p || !f) {
        return TB_ERR_ARG;
    }
    if (!can_port_is_open(p)) {
        if (p->ops) {
            p->stats.tx_dropped++;
        }
        return TB_ERR_STATE;
    }
    int rc = p->ops->send(p, f);
    if (rc >= 0) {
        p->backoff_ms = CAN_PORT_BACKOFF_MIN_MS; /* the link works again */
        if (p->tx_failing) {
            /* the error described a failed send (a full disk under log:, a full adapter buffer):
             * that is over once a frame goes out, so status and metrics show the port healthy */
            p->tx_failing = false;
            p->err[0] = '\0';
        }
    } else {
        p->tx_failing = true;
    }
    return rc;
}

int can_port_recv(can_port_t *p, can_frame_t *f)
{
    if (!p || !f) {
        return TB_ERR_ARG;
    }
    if (!can_port_is_open(p)) {
        return 0;
    }
    return p->ops->recv(p, f);
}

void can_port_service(can_port_t *p, uint32_t now_ms)
{
    if (!p || !p->ops) {
        return;
    }
    p->now_ms = now_ms;
    if (p->need_reopen && p->fd < 0 && (int32_t)(now_ms - p->retry_at_ms) >= 0) {
        p->need_reopen = false;
        /* a new attempt: what is left in err afterwards is about this open (its failure, or a
         * warning such as a refused bus-off restart request), not the old loss */
        p->err[0] = '\0';
        p->tx_failing = false;
        if (p->ops->open(p) == TB_OK) {
            p->stats.reopens++;
        } else {
            p->fd = -1;
            schedule_retry(p);
        }
    }
    if (p->fd >= 0 && p->ops->service) {
        p->ops->service(p, now_ms);
    }
}

int can_port_fd(const can_port_t *p)
{
    if (!p || !p->ops || p->ops == &can_port_log_ops) {
        return -1;
    }
    return p->fd;
}

bool can_port_tx_pending(const can_port_t *p)
{
    return p && p->ops == &can_port_slcan_ops && p->fd >= 0 && p->u.sl.tx_len > 0u;
}

const can_port_stats_t *can_port_stats(const can_port_t *p)
{
    return p ? &p->stats : NULL;
}

const char *can_port_error(const can_port_t *p)
{
    return p ? p->err : "";
}

bool can_port_send_failing(const can_port_t *p)
{
    return p && p->tx_failing;
}

const char *can_port_state_name(can_bus_state_t st)
{
    switch (st) {
    case CAN_BUS_ACTIVE: return "error-active";
    case CAN_BUS_WARNING: return "error-warning";
    case CAN_BUS_PASSIVE: return "error-passive";
    case CAN_BUS_OFF: return "bus-off";
    case CAN_BUS_DOWN: return "down";
    default: return "unknown";
    }
}

int can_port_send_cb(void *ctx, const can_frame_t *f)
{
    return can_port_send((can_port_t *)ctx, f);
}

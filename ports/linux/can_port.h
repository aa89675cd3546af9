/* can_port: the Linux CAN back-ends behind one small vtable, chosen by a spec string.
 *
 *   socketcan:IFACE      raw SocketCAN socket (e.g. socketcan:can0). Error frames are enabled and
 *                        counted; bus-off is reported and recovered (netlink restart request when
 *                        permitted, and the socket is reopened with backoff). Set the bit rate
 *                        outside the gateway: ip link set can0 type can bitrate 500000 restart-ms 100
 *   slcan:DEVICE[@BAUD]  serial-line CAN (Lawicel ASCII) adapter such as a CANable with slcan
 *                        firmware (e.g. slcan:/dev/ttyACM0). Opened raw (default 115200 8N1), then
 *                        "C", "S6" (500 kbit/s), "O". A lost device is reopened with backoff.
 *   log:PATH[@SIZE]      appends every transmitted frame to PATH in `candump -L` format
 *                        "(seconds.micros) can0 ID#HEXDATA"; receives nothing (fd -1). Only
 *                        whole lines: a write cut short (disk full) is truncated back to the last
 *                        complete line, and a torn last line (power cut) is removed at open.
 *                        Bounded: once PATH would grow past SIZE bytes (a number with an optional
 *                        k or M suffix, 1024-based; default 8M, 0 = no bound) it is renamed to
 *                        PATH.1, replacing the previous one, and a new PATH begins: at most twice
 *                        SIZE on disk. PATH itself cannot contain '@'.
 *
 * The caller owns the can_port_t (no allocation). All functions run on the owner thread only.
 * Errors are returned as TB_ERR_* and described, naming the device, in can_port_error().
 *
 * Event loop use:
 *     can_port_t port;
 *     if (can_port_open(&port, "socketcan:can0", now) != TB_OK) { log(can_port_error(&port)); ... }
 *     loop: poll() on can_port_fd(&port) (may change after a reopen; -1 = nothing to poll) with
 *           POLLOUT too while can_port_tx_pending(&port);
 *           while (can_port_recv(&port, &f) == 1) handle(f);
 *           can_port_service(&port, now);       // flush, recovery, reopen with backoff
 *     can_port_close(&port);
 */
#ifndef TB_CAN_PORT_H
#define TB_CAN_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/can_frame.h"
#include "ports/linux/can_slcan.h"

#define CAN_PORT_SPEC_MAX 128u
#define CAN_PORT_ERR_MAX 256u
#define CAN_PORT_SLCAN_TXBUF 1024u
#define CAN_PORT_BACKOFF_MIN_MS 100u
#define CAN_PORT_BACKOFF_MAX_MS 5000u

typedef enum { CAN_BUS_ACTIVE = 0, CAN_BUS_WARNING, CAN_BUS_PASSIVE, CAN_BUS_OFF, CAN_BUS_DOWN } can_bus_state_t;

typedef struct {
    uint64_t tx_frames;       /* accepted by the driver / adapter / file */
    uint64_t tx_errors;       /* write failed */
    uint64_t tx_dropped;      /* no room (driver queue or adapter buffer full): frame dropped */
    uint64_t rx_frames;       /* data/remote frames received */
    uint64_t rx_errors;       /* read failed or malformed input (slcan lines, short reads) */
    uint64_t err_frames;      /* SocketCAN error frames */
    uint64_t bus_off;         /* bus-off events */
    uint64_t error_passive;   /* error-passive events */
    uint64_t error_warning;   /* error-warning events */
    uint64_t no_ack;          /* transmissions nobody acknowledged (nothing else on the bus?) */
    uint64_t restarts;        /* controller restarted (kernel reports, or our netlink request) */
    uint64_t reopens;         /* successful reopen after a failure */
    uint64_t adapter_errors;  /* slcan: BEL replies from the adapter */
    can_bus_state_t state;
} can_port_stats_t;

typedef struct can_port can_port_t;

typedef struct {
    const char *kind; /* "socketcan", "slcan", "log" */
    /* Open the device named by p->dev (already parsed). TB_OK or error (p->err set). */
    int (*open)(can_port_t *p);
    /* >= 0 sent (or queued), < 0 TB_ERR_* */
    int (*send)(can_port_t *p, const can_frame_t *f);
    /* 1 = *f filled, 0 = nothing available now, < 0 TB_ERR_* */
    int (*recv)(can_port_t *p, can_frame_t *f);
    /* periodic work (flush queued bytes, recovery); may be NULL */
    void (*service)(can_port_t *p, uint32_t now_ms);
    void (*close)(can_port_t *p);
} can_port_ops_t;

struct can_port {
    const can_port_ops_t *ops;
    char spec[CAN_PORT_SPEC_MAX];
    char dev[CAN_PORT_SPEC_MAX]; /* interface, tty path or log path */
    int fd;
    can_port_stats_t stats;
    char err[CAN_PORT_ERR_MAX];  /* last error, "slcan:/dev/ttyACM0: open: No such file or directory";
                                  * cleared by the next successful send after a failed one, and by
                                  * a reopen attempt */
    bool tx_failing;             /* the last send failed (err describes it) */
    /* recovery */
    bool need_reopen;
    uint32_t retry_at_ms;
    uint32_t backoff_ms;
    uint32_t now_ms;             /* last time given to open/service */
    union {
        struct {
            int ifindex;
            bool restart_pending; /* bus-off seen: ask the kernel to restart the controller */
        } sock;
        struct {
            unsigned baud;
            slcan_rx_t rx;
            uint8_t in[256];
            size_t in_pos, in_len;
            uint8_t tx[CAN_PORT_SLCAN_TXBUF];
            size_t tx_len;
        } sl;
        struct {
            char iface[16];
            char path[CAN_PORT_SPEC_MAX]; /* dev without "@SIZE" */
            uint64_t max_bytes;           /* rotate beyond this; 0 = never */
            uint64_t size;                /* bytes in the current file */
            uint64_t rotations;
        } log;
    } u;
};

/* Parses spec and opens the back-end. On failure the port is left closed but usable for
 * can_port_error() and a later can_port_service() retry when the spec itself was valid (device
 * missing at boot); TB_ERR_ARG means the spec is malformed and nothing will ever open. */
int can_port_open(can_port_t *p, const char *spec, uint32_t now_ms);
void can_port_close(can_port_t *p);

/* >= 0 handed to the bus, < 0 TB_ERR_* (TB_ERR_STATE while the device is closed/reopening). */
int can_port_send(can_port_t *p, const can_frame_t *f);
/* 1 = frame, 0 = none now, < 0 error. Error frames come back with CAN_FLAG_ERR. */
int can_port_recv(can_port_t *p, can_frame_t *f);
/* Flushes, recovers, reopens after failures (backoff 100 ms doubling to 5 s). */
void can_port_service(can_port_t *p, uint32_t now_ms);
/* File descriptor to poll for input, or -1 (log back-end, or device closed). */
int can_port_fd(const can_port_t *p);
/* True while bytes wait to be written (slcan): poll for POLLOUT too. */
bool can_port_tx_pending(const can_port_t *p);
bool can_port_is_open(const can_port_t *p);
const can_port_stats_t *can_port_stats(const can_port_t *p);
const char *can_port_error(const can_port_t *p); /* "" if none (or the problem is over) */
/* True while the last send failed; false again after the next successful one. */
bool can_port_send_failing(const can_port_t *p);
const char *can_port_state_name(can_bus_state_t st);

/* log: back-end only (the others do nothing and return 0): records a frame that another node sent
 * (the demo's simulated GX) as a line of the log, as candump on the bus would show it; counted in
 * rx_frames. >= 0 written, < 0 TB_ERR_*. */
int can_port_log_peer(can_port_t *p, const can_frame_t *f);
#define CAN_PORT_LOG_DEFAULT_MAX (8u * 1024u * 1024u) /* SIZE syntax: can_sched_log_size() */

/* Adapter for app/can_sched's send callback: ctx is a can_port_t *. */
int can_port_send_cb(void *ctx, const can_frame_t *f);

/* ---- for the back-ends ------------------------------------------------------------------- */
/* Records "<spec>: <what>: <strerror(errnum)>" (errnum 0: no strerror part) and returns rc. */
int can_port_fail(can_port_t *p, int rc, int errnum, const char *what);
/* Marks the device lost: closes it and schedules a reopen with backoff. */
void can_port_lost(can_port_t *p, int errnum, const char *what);

extern const can_port_ops_t can_port_socketcan_ops;
extern const can_port_ops_t can_port_slcan_ops;
extern const can_port_ops_t can_port_log_ops;

#endif

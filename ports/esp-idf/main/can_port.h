/* can_port: the Victron bus on the ESP32's TWAI controller (the twin of ports/linux/can_port.c).
 *
 * can.port "twai": 500 kbit/s, normal mode, standard ids, accept-all filter, a TX queue of
 * CAN_PORT_TXQ frames (a full queue drops the frame and counts it; the scheduler's next period
 * sends fresh values anyway). Recovery from bus-off follows the TWAI alerts: BUS_OFF ->
 * twai_initiate_recovery(), BUS_RECOVERED -> twai_start(). Received frames (the GX's 0x305/0x307)
 * are read without blocking by the owner task. All functions run on the owner task only. */
#ifndef PORTS_ESP_CAN_PORT_H
#define PORTS_ESP_CAN_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/can_frame.h"

#define CAN_PORT_TXQ 16u
#define CAN_PORT_ERR_MAX 160u

typedef enum { CAN_BUS_ACTIVE = 0, CAN_BUS_WARNING, CAN_BUS_PASSIVE, CAN_BUS_OFF, CAN_BUS_DOWN } can_bus_state_t;

typedef struct {
    uint64_t tx_frames, tx_errors, tx_dropped, rx_frames, rx_errors;
    uint64_t bus_off, error_passive, error_warning, restarts;
    can_bus_state_t state;
} can_port_stats_t;

typedef struct {
    bool installed, started;
    uint32_t first_351_ms;    /* ms after boot when the first 0x351 (the limits) was queued; 0 = not yet */
    can_port_stats_t st;
    char err[CAN_PORT_ERR_MAX];
} can_port_t;

/* spec must be "twai" (checked by the configuration). TB_OK or an error described in can_port_error(). */
int can_port_open(can_port_t *p, const char *spec, uint32_t now_ms);
void can_port_close(can_port_t *p);
/* can_send_fn of app/can_sched.h: >= 0 queued for the bus, < 0 not. */
int can_port_send_cb(void *ctx, const can_frame_t *f);
/* 1 and *f filled if a frame was waiting, 0 if none. */
int can_port_recv(can_port_t *p, can_frame_t *f);
/* Alerts: bus state, bus-off recovery. Call every owner cycle. */
void can_port_service(can_port_t *p, uint32_t now_ms);
bool can_port_is_open(const can_port_t *p);
const char *can_port_error(const can_port_t *p);
const can_port_stats_t *can_port_stats(const can_port_t *p);
#endif

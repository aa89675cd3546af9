/* can_socketcan: the socketcan: back-end of can_port, and the pure classification of SocketCAN
 * error frames (linux/can/error.h layout) so that it can be unit-tested without a CAN interface.
 */
#ifndef TB_CAN_SOCKETCAN_H
#define TB_CAN_SOCKETCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/can_frame.h"

typedef struct {
    bool tx_timeout;       /* CAN_ERR_TX_TIMEOUT */
    bool lost_arbitration; /* CAN_ERR_LOSTARB */
    bool controller;       /* CAN_ERR_CRTL (details below) */
    bool rx_overflow;      /*   data[1] CAN_ERR_CRTL_RX_OVERFLOW / TX_OVERFLOW */
    bool error_warning;    /*   data[1] RX/TX_WARNING */
    bool error_passive;    /*   data[1] RX/TX_PASSIVE */
    bool back_to_active;   /*   data[1] CAN_ERR_CRTL_ACTIVE */
    bool protocol;         /* CAN_ERR_PROT */
    bool transceiver;      /* CAN_ERR_TRX */
    bool no_ack;           /* CAN_ERR_ACK */
    bool bus_off;          /* CAN_ERR_BUSOFF */
    bool bus_error;        /* CAN_ERR_BUSERROR */
    bool restarted;        /* CAN_ERR_RESTARTED */
} can_err_class_t;

/* err_id: the error frame's id bits without CAN_ERR_FLAG (can_frame_t.id of a CAN_FLAG_ERR
 * frame); data/dlc: its payload (bytes beyond dlc read as 0). */
void can_socketcan_classify(uint32_t err_id, const uint8_t *data, uint8_t dlc, can_err_class_t *out);

#endif

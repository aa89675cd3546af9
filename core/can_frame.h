/* can_frame: the one classic-CAN frame type shared by the Victron encoder/decoder (core/vcan), the
 * CAN scheduler (app/can_sched) and every CAN back-end (ports/linux/can_*).
 *
 * Classic CAN 2.0 only (no CAN FD). The Victron CAN-bus BMS protocol uses 11-bit identifiers;
 * 29-bit (CAN_FLAG_EXT), remote (CAN_FLAG_RTR) and error frames (CAN_FLAG_ERR) exist here only so
 * that receivers and tools can represent what they see on a bus. The scheduler never transmits
 * them (its TX guard refuses any flag).
 *
 * Ranges (a frame outside them is malformed; can_frame_valid() checks):
 *   id   0..0x7FF without CAN_FLAG_EXT, 0..0x1FFFFFFF with it. For CAN_FLAG_ERR frames `id` holds
 *        the error class bits (Linux CAN_ERR_* layout, without the CAN_ERR_FLAG bit itself).
 *   dlc  0..8; data[dlc..7] are zero in frames built by this project.
 * Plain value type, no pointers; copy freely.
 */
#ifndef TB_CAN_FRAME_H
#define TB_CAN_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#define CAN_FRAME_MAX_DLC 8u
#define CAN_FRAME_SFF_MASK 0x7FFu      /* 11-bit identifier */
#define CAN_FRAME_EFF_MASK 0x1FFFFFFFu /* 29-bit identifier */

enum {
    CAN_FLAG_EXT = 1u << 0, /* 29-bit identifier */
    CAN_FLAG_RTR = 1u << 1, /* remote transmission request: no data bytes on the wire */
    CAN_FLAG_ERR = 1u << 2  /* error frame reported by the controller (never sent) */
};

typedef struct {
    uint32_t id;
    uint8_t dlc;
    uint8_t flags; /* CAN_FLAG_* */
    uint8_t data[CAN_FRAME_MAX_DLC];
} can_frame_t;

/* True if id and dlc are inside the ranges above (flags other than CAN_FLAG_* are refused). */
static inline bool can_frame_valid(const can_frame_t *f)
{
    if (f->dlc > CAN_FRAME_MAX_DLC) {
        return false;
    }
    if ((f->flags & (uint8_t) ~(CAN_FLAG_EXT | CAN_FLAG_RTR | CAN_FLAG_ERR)) != 0u) {
        return false;
    }
    if ((f->flags & CAN_FLAG_ERR) != 0u) {
        return f->id <= CAN_FRAME_EFF_MASK;
    }
    return f->id <= (((f->flags & CAN_FLAG_EXT) != 0u) ? CAN_FRAME_EFF_MASK : CAN_FRAME_SFF_MASK);
}

#endif

/* Golden vectors for core/vcan: plain C tables (no test framework), so that the host unit tests
 * (tests/unit/test_vcan.c) and the microcontroller target tests run the very same data.
 *
 * Sources: Victron's "CAN-bus BMS protocol" document (its candump example and its 0x35A worked
 * byte), a real BYD LVS <-> Venus 3.00 capture (dfch/BydCanProtocol), a Pylontech capture
 * (OpenDTU-OnBattery PR #1213), as listed in docs/victron-can.md; the rest are our own vectors for
 * rounding, clamping and "not supported" codes, each derived by hand from the spec.
 *
 * How to use:
 *   decode vectors: vcan_decode(&v->frame, &m) must return v->rc; when TB_OK, every field of m
 *     must equal v->decoded (floats within VCAN_VECTOR_TOL, NaN = NaN; 0x35A: levels and status).
 *     When v->encode_exact, vcan_encode(&out, &v->decoded) must reproduce v->frame byte for byte.
 *   encode vectors: vcan_encode(&out, &v->in) must return v->rc; when >= 0, out must equal
 *     v->frame (id, dlc 8, all 8 bytes).
 */
#ifndef TB_VCAN_VECTORS_H
#define TB_VCAN_VECTORS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vcan.h"

#define VCAN_VECTOR_TOL 0.0005

typedef struct {
    const char *name;
    can_frame_t frame;
    int rc;              /* expected vcan_decode() result */
    vcan_msg_t decoded;
    bool encode_exact;
} vcan_decode_vector_t;

typedef struct {
    const char *name;
    vcan_msg_t in;
    int rc;              /* expected vcan_encode() result: 8 or a TB_ERR_* */
    can_frame_t frame;
} vcan_encode_vector_t;

extern const vcan_decode_vector_t vcan_decode_vectors[];
extern const size_t vcan_decode_vector_count;
extern const vcan_encode_vector_t vcan_encode_vectors[];
extern const size_t vcan_encode_vector_count;

#endif

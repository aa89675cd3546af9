/* A minimal, test-only TinyBMS responder used to exercise the poller byte for byte.
 * Written from the vendor document independently of core/tb_proto.c (it shares only the CRC):
 * frames are assembled by hand here so that an encoder/decoder mistake in the gateway cannot be
 * mirrored by the test double. The full simulator lives in sim/. */
#ifndef FAKE_BMS_H
#define FAKE_BMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint16_t regs[600];
    uint16_t min[44], max[44], def[44];
    bool asleep;            /* swallow the next request (and wake up) */
    int drop_next;          /* ignore this many further requests */
    int nack_next;          /* answer this many further requests with AA 00 cmd 00 */
    bool corrupt_next;      /* flip a byte of the next reply (CRC then fails) */
    bool support_0x1d;      /* answer 0x1D; otherwise NACK it */
    bool ignore_writes;     /* acknowledge 0x10 writes without storing them */
    uint32_t requests;      /* well-formed requests seen */
    uint32_t writes;        /* accepted 0x10 writes */
    uint32_t resets[6];     /* 0x02 per option */
    uint8_t out[1024];
    size_t out_len;
} fake_bms_t;

/* A plausible 4..16S pack: every register filled as a TinyBMS would (see the .c). */
void fake_bms_init(fake_bms_t *f, unsigned cells);
/* Set a float across two registers, low word first (the TinyBMS word order). */
void fake_bms_set_float(fake_bms_t *f, unsigned addr, float v);
void fake_bms_set_u32(fake_bms_t *f, unsigned addr, uint32_t v);
/* Feed request bytes (one whole request per call); the reply, if any, is appended to f->out. */
void fake_bms_request(fake_bms_t *f, const uint8_t *req, size_t n);
/* Take the pending reply bytes. */
size_t fake_bms_take(fake_bms_t *f, uint8_t *buf, size_t cap);

#endif

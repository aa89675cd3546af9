/* Golden TinyBMS frames, as plain C data (no test framework), so that the host unit tests and
 * the microcontroller target tests run the very same vectors.
 * Sources: vendor "Tiny BMS Communication Protocols" Rev D worked examples and the request
 * frames pre-computed in ../shared/reference/tinybms-protocol.md §2, §3.2, §3.3. */
#ifndef TB_VECTORS_H
#define TB_VECTORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TBV_READ, TBV_WRITE, TBV_SIMPLE, TBV_RESET, TBV_QUERY, TBV_INDIV_READ, TBV_INDIV_WRITE } tbv_kind_t;

typedef struct {
    const char *what;
    tbv_kind_t kind;
    uint16_t addr;       /* READ/WRITE */
    uint8_t count;       /* READ/WRITE/QUERY/INDIV */
    uint8_t arg;         /* SIMPLE: command; RESET/QUERY: option */
    uint16_t vals[4];    /* WRITE values / INDIV addresses */
    uint16_t vals2[4];   /* INDIV_WRITE values */
    uint8_t len;
    uint8_t frame[16];
} tbv_request_t;

extern const tbv_request_t tbv_requests[];
extern const size_t tbv_requests_count;

/* Replies with a known decoding. */
typedef struct {
    const char *what;
    uint8_t len;
    uint8_t frame[24];
} tbv_reply_t;

extern const tbv_reply_t tbv_reply_temps;      /* AA 1B 06 16 01 14 01 16 01 0E 4E: 27.8/27.6/27.8 degC */
extern const tbv_reply_t tbv_reply_write_echo; /* AA 10 01 3B 00 02 28 22: write 315..316 acknowledged */

/* CRC-16/MODBUS check value over "123456789". */
#define TBV_CRC_CHECK 0x4B37u

#endif

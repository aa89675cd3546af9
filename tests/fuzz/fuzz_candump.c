/* libFuzzer harness for what victron-can-decode does with a user's capture file: the candump line
 * parser (ports/linux/can_candump) and, on every frame it yields, the Victron decoder and its JSON
 * rendering (core/vcan).
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - the parser returns 1, 0 or TB_ERR_FORMAT; a refusal always explains itself;
 *   - an accepted record holds a valid frame (id within its 11/29-bit range, DLC <= 8), usec <=
 *     999999, an interface name of at most 15 characters;
 *   - format -> parse reproduces the record (the -L writer and reader agree);
 *   - vcan_decode returns TB_OK, TB_ERR_NOTFOUND or TB_ERR_FORMAT, and a decoded frame renders as
 *     complete JSON in a bounded buffer;
 *   - decode/encode is idempotent: encode(decode(f)) decodes and re-encodes to the same bytes.
 * Input: the bytes are split into lines at '\n'; each line is parsed separately.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "app/vcan_json.h"
#include "core/vcan.h"
#include "ports/linux/can_candump.h"

#define CHECK(c)                                                                                        \
    do {                                                                                                \
        if (!(c)) {                                                                                     \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)

static void check_vcan(const can_frame_t *f)
{
    vcan_msg_t m;
    int rc = vcan_decode(f, &m);
    CHECK(rc == TB_OK || rc == TB_ERR_NOTFOUND || rc == TB_ERR_FORMAT);
    if (rc != TB_OK) {
        return;
    }
    CHECK(m.id == f->id);
    char buf[1024];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    vcan_json_fields(&w, &m);
    jw_obj_end(&w);
    int n = jw_finish(&w);
    CHECK(n > 0 && (size_t)n < sizeof buf && buf[n] == '\0');
    if (!vcan_is_bms_tx_id(f->id)) {
        can_frame_t g;
        CHECK(vcan_encode(&g, &m) == TB_ERR_ARG); /* never an encoder for the GX's ids */
        return;
    }
    can_frame_t g;
    int e = vcan_encode(&g, &m);
    if (e < 0) {
        CHECK(e == TB_ERR_RANGE || e == TB_ERR_ARG); /* a required field the wire left out */
        return;
    }
    CHECK(e == 8 && g.id == f->id && g.dlc == 8 && g.flags == 0);
    vcan_msg_t m2;
    CHECK(vcan_decode(&g, &m2) == TB_OK);
    can_frame_t h;
    CHECK(vcan_encode(&h, &m2) == 8);
    CHECK(memcmp(g.data, h.data, 8) == 0);
}

static void one_line(const char *line, size_t len)
{
    candump_rec_t r;
    memset(&r, 0xA5, sizeof r);
    const char *why = NULL;
    int rc = candump_parse_line(line, len, &r, &why);
    CHECK(rc == 1 || rc == 0 || rc == TB_ERR_FORMAT);
    if (rc == TB_ERR_FORMAT) {
        CHECK(why != NULL && why[0] != '\0');
        return;
    }
    if (rc == 0) {
        return;
    }
    CHECK(can_frame_valid(&r.frame));
    CHECK(r.usec <= 999999u);
    CHECK(strlen(r.iface) <= CANDUMP_IFACE_MAX);
    if ((r.frame.flags & CAN_FLAG_RTR) == 0u) {
        for (unsigned i = r.frame.dlc; i < CAN_FRAME_MAX_DLC; i++) {
            CHECK(r.frame.data[i] == 0u);
        }
    }
    char out[CANDUMP_LINE_MAX];
    int n = candump_format_line(out, sizeof out, &r);
    CHECK(n > 0 && (size_t)n < sizeof out);
    candump_rec_t b;
    CHECK(candump_parse_line(out, (size_t)n, &b, NULL) == 1);
    CHECK(b.has_time == r.has_time || !r.has_time);
    CHECK(b.sec == (r.has_time ? r.sec : 0u) && b.usec == (r.has_time ? r.usec : 0u));
    CHECK(strcmp(b.iface, r.iface[0] ? r.iface : "can0") == 0);
    CHECK(b.frame.id == r.frame.id && b.frame.dlc == r.frame.dlc && b.frame.flags == r.frame.flags);
    CHECK(memcmp(b.frame.data, r.frame.data, CAN_FRAME_MAX_DLC) == 0);
    check_vcan(&r.frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || s[i] == '\n') {
            one_line(s + start, i - start);
            start = i + 1u;
        }
    }
    /* The first 11 bytes as a raw frame too: the decoder distrusts wire bytes on its own. */
    if (size >= 11u) {
        can_frame_t f;
        memset(&f, 0, sizeof f);
        f.id = ((uint32_t)data[0] | ((uint32_t)data[1] << 8)) & 0x7FFu;
        f.dlc = (uint8_t)(data[2] % 10u); /* 9 included: must be refused */
        memcpy(f.data, data + 3, 8);
        check_vcan(&f);
    }
    return 0;
}

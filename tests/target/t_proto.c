/* CRC-16/MODBUS and TinyBMS frames against tests/vectors/tb_vectors.c (the host's
 * tests/unit/test_tb_proto.c and test_crc16.c run the same tables). */
#include <string.h>

#include "core/crc16.h"
#include "core/tb_proto.h"
#include "tb_vectors.h"
#include "tests.h"

void t_crc16_check_value(void)
{
    const char *s = "123456789";
    TT_EQ(crc16_modbus((const uint8_t *)s, strlen(s)), TBV_CRC_CHECK);
    TT_EQ(crc16_modbus(NULL, 0), CRC16_MODBUS_INIT);
    /* incremental == one shot, over every split of a vector frame */
    const tbv_request_t *v = &tbv_requests[9];
    uint16_t whole = crc16_modbus(v->frame, v->len);
    for (size_t cut = 0; cut <= v->len; cut++) {
        uint16_t part = crc16_modbus_update(CRC16_MODBUS_INIT, v->frame, cut);
        TT_EQ(crc16_modbus_update(part, v->frame + cut, v->len - cut), whole);
    }
}

/* Every golden request frame is produced byte for byte, and carries a valid CRC (residue 0). */
void t_tb_vectors_requests(void)
{
    TT_CHECK(tbv_requests_count >= 31u);
    for (size_t i = 0; i < tbv_requests_count; i++) {
        const tbv_request_t *v = &tbv_requests[i];
        tt_context(v->what);
        uint8_t buf[64];
        int n = -1;
        switch (v->kind) {
        case TBV_READ: n = tb_enc_read(buf, sizeof buf, v->addr, v->count); break;
        case TBV_WRITE: n = tb_enc_write(buf, sizeof buf, v->addr, v->vals, v->count); break;
        case TBV_SIMPLE: n = tb_enc_simple(buf, sizeof buf, v->arg); break;
        case TBV_RESET: n = tb_enc_reset(buf, sizeof buf, v->arg); break;
        case TBV_QUERY: n = tb_enc_settings_query(buf, sizeof buf, v->arg, v->count); break;
        case TBV_INDIV_READ: n = tb_enc_read_indiv(buf, sizeof buf, v->vals, v->count); break;
        case TBV_INDIV_WRITE: n = tb_enc_write_indiv(buf, sizeof buf, v->vals, v->vals2, v->count); break;
        }
        if (TT_EQ(n, v->len)) {
            TT_MEMEQ(buf, v->frame, v->len);
        }
        TT_EQ(crc16_modbus(v->frame, v->len), 0);
        /* one byte short of room: refused, never a partial frame */
        TT_EQ(tb_enc_read(buf, 7, 0, 1), TB_ERR_NOSPACE);
    }
}

/* The temperatures reply through the receive state machine (split at every byte position and
 * byte by byte), then parsed; the write echo parsed. */
void t_tb_vectors_replies(void)
{
    const tbv_reply_t *v = &tbv_reply_temps;
    tt_context(v->what);
    for (size_t cut = 0; cut <= v->len; cut++) {
        tb_rx_t rx;
        tb_frame_t f;
        tb_rx_init(&rx, 50);
        int got = 0;
        TT_EQ(tb_rx_push(&rx, v->frame, cut, 0), cut);
        while (tb_rx_next(&rx, 0, &f)) {
            got++;
        }
        TT_EQ(tb_rx_push(&rx, v->frame + cut, v->len - cut, 1), v->len - cut);
        while (tb_rx_next(&rx, 1, &f)) {
            got++;
            TT_EQ(f.cmd, 0x1B);
            TT_EQ(f.len, v->len);
            int16_t t[3] = {0, 0, 0};
            TT_EQ(tb_parse_temps(&f, t), TB_OK);
            TT_EQ(t[0], 278);
            TT_EQ(t[1], 276);
            TT_EQ(t[2], 278);
        }
        TT_EQ(got, 1);
        TT_EQ(rx.stats.crc_errors, 0);
    }

    /* garbage and a corrupted copy in front of the write echo: resynchronised, counted */
    const tbv_reply_t *e = &tbv_reply_write_echo;
    tt_context(e->what);
    uint8_t stream[64];
    size_t n = 0;
    static const char noise[] = "BPV:53.1\t";
    memcpy(stream, noise, sizeof noise - 1u);
    n += sizeof noise - 1u;
    memcpy(stream + n, v->frame, v->len);
    stream[n + 4] ^= 0x80;
    n += v->len;
    memcpy(stream + n, e->frame, e->len);
    n += e->len;
    tb_rx_t rx;
    tb_frame_t f;
    tb_rx_init(&rx, 50);
    TT_EQ(tb_rx_push(&rx, stream, n, 0), n);
    if (TT_CHECK(tb_rx_next(&rx, 0, &f))) {
        TT_EQ(f.cmd, 0x10);
        TT_EQ(tb_parse_write(&f, 315, 2), TB_OK);
        TT_CHECK(tb_parse_write(&f, 315, 3) != TB_OK); /* an echo of another write */
    }
    TT_CHECK(!tb_rx_next(&rx, 0, &f));
    TT_EQ(rx.stats.frames, 1);
    TT_EQ(rx.stats.crc_errors, 1);
    /* byte accounting: delivered frame bytes + garbage + pending == bytes pushed */
    TT_EQ(e->len + rx.stats.garbage_bytes + tb_rx_pending(&rx), rx.stats.bytes);

    /* word order and IEEE-754 on this target: 0x1EB8, 0x425F is 55.78 V (vendor dump) */
    uint16_t r[2] = {0x1EB8, 0x425F};
    TT_NEAR(tb_float_from_regs(r), 55.78, 0.001);
    uint16_t back[2];
    tb_regs_from_float(55.78f, back);
    TT_EQ(back[0], 0x1EB8);
    TT_EQ(back[1], 0x425F);
    uint16_t soc[2] = {0xAA36, 0x04CD};
    TT_EQ(tb_u32_from_regs(soc), 80587318u);
}

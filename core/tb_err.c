#include "core/tb_err.h"

/* code, identifier (tb_err_name), English text (tb_err_str); codes are 0, -1, -2, ... in order. */
#define TB_ERRS(X)                                                                                  \
    X(TB_OK, "ok", "success")                                                                       \
    X(TB_ERR_ARG, "invalid_argument", "invalid argument")                                           \
    X(TB_ERR_NOSPACE, "no_space", "buffer or queue full")                                           \
    X(TB_ERR_RANGE, "out_of_range", "value out of range")                                           \
    X(TB_ERR_READONLY, "read_only", "read-only")                                                    \
    X(TB_ERR_NOTFOUND, "not_found", "not found")                                                    \
    X(TB_ERR_FORMAT, "bad_format", "malformed input")                                               \
    X(TB_ERR_CRC, "crc", "CRC mismatch")                                                            \
    X(TB_ERR_TIMEOUT, "timeout", "timed out")                                                       \
    X(TB_ERR_NACK, "nack", "device answered with an error frame")                                   \
    X(TB_ERR_MISMATCH, "readback_mismatch", "read-back differs from the written value")             \
    X(TB_ERR_BUSY, "busy", "busy")                                                                  \
    X(TB_ERR_STATE, "bad_state", "not allowed in the current state")                                \
    X(TB_ERR_IO, "io", "I/O error")                                                                 \
    X(TB_ERR_UNSUPPORTED, "unsupported", "not supported")                                           \
    X(TB_ERR_STALE, "stale", "data too old")                                                        \
    X(TB_ERR_AUTH, "unauthorized", "authentication required or failed")                             \
    X(TB_ERR_TOO_LARGE, "too_large", "input too large")                                             \
    X(TB_ERR_UNEXPECTED, "unexpected", "unexpected reply")                                          \
    X(TB_ERR_CANCELLED, "cancelled", "cancelled")

/* Position of each code in the list; the lookup below indexes by -code, so check they agree. */
#define ERR_POS(code, name, text) POS_##code,
enum { TB_ERRS(ERR_POS) ERR_COUNT };
#define ERR_CHECK(code, name, text) _Static_assert(-(code) == POS_##code, "codes 0, -1, -2, ... in order");
TB_ERRS(ERR_CHECK)

/* One pool, "name\0text\0" per code in list order, then the pair for unknown codes: no pointer
 * table (the strings are only read on error paths, so skipping a few dozen is cheap). */
#define ERR_TEXT(code, name, text) name "\0" text "\0"
static const char k_pool[] = TB_ERRS(ERR_TEXT) "unknown\0unknown error";

/* which = 0: name, 1: text. */
static const char *lookup(int err, unsigned which)
{
    unsigned n = err <= 0 && err > -ERR_COUNT ? (unsigned)-err : (unsigned)ERR_COUNT;
    const char *p = k_pool;
    for (n = 2u * n + which; n > 0u; n--) {
        while (*p++ != '\0') {
        }
    }
    return p;
}

const char *tb_err_str(int err)
{
    return lookup(err, 1u);
}

const char *tb_err_name(int err)
{
    return lookup(err, 0u);
}

#include "core/tb_err.h"

typedef struct {
    int code;
    const char *name;
    const char *text;
} err_desc_t;

static const err_desc_t k_errs[] = {
    {TB_OK, "ok", "success"},
    {TB_ERR_ARG, "invalid_argument", "invalid argument"},
    {TB_ERR_NOSPACE, "no_space", "buffer or queue full"},
    {TB_ERR_RANGE, "out_of_range", "value out of range"},
    {TB_ERR_READONLY, "read_only", "read-only"},
    {TB_ERR_NOTFOUND, "not_found", "not found"},
    {TB_ERR_FORMAT, "bad_format", "malformed input"},
    {TB_ERR_CRC, "crc", "CRC mismatch"},
    {TB_ERR_TIMEOUT, "timeout", "timed out"},
    {TB_ERR_NACK, "nack", "device answered with an error frame"},
    {TB_ERR_MISMATCH, "readback_mismatch", "read-back differs from the written value"},
    {TB_ERR_BUSY, "busy", "busy"},
    {TB_ERR_STATE, "bad_state", "not allowed in the current state"},
    {TB_ERR_IO, "io", "I/O error"},
    {TB_ERR_UNSUPPORTED, "unsupported", "not supported"},
    {TB_ERR_STALE, "stale", "data too old"},
    {TB_ERR_AUTH, "unauthorized", "authentication required or failed"},
    {TB_ERR_TOO_LARGE, "too_large", "input too large"},
    {TB_ERR_UNEXPECTED, "unexpected", "unexpected reply"},
    {TB_ERR_CANCELLED, "cancelled", "cancelled"},
};

static const err_desc_t *find(int err)
{
    for (unsigned i = 0; i < sizeof k_errs / sizeof k_errs[0]; i++) {
        if (k_errs[i].code == err) {
            return &k_errs[i];
        }
    }
    return 0;
}

const char *tb_err_str(int err)
{
    const err_desc_t *d = find(err);
    return d ? d->text : "unknown error";
}

const char *tb_err_name(int err)
{
    const err_desc_t *d = find(err);
    return d ? d->name : "unknown";
}

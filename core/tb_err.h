/* One error enum for the whole gateway.
 *
 * TB_OK is 0; every error is negative so that functions returning a length can return
 * either a byte count (>= 0) or an error (< 0) in an int. Functions that cannot fail return
 * void. Errors caused by bytes from outside (wire, HTTP, MQTT, files) are also counted in the
 * statistics of the module that saw them; nothing in the gateway aborts on bad input.
 */
#ifndef TB_ERR_H
#define TB_ERR_H

typedef enum {
    TB_OK = 0,
    TB_ERR_ARG = -1,          /* invalid argument (programming error or bad user input) */
    TB_ERR_NOSPACE = -2,      /* output buffer or queue too small / full */
    TB_ERR_RANGE = -3,        /* value outside its allowed range */
    TB_ERR_READONLY = -4,     /* target is not writable */
    TB_ERR_NOTFOUND = -5,     /* unknown name, register, key or route */
    TB_ERR_FORMAT = -6,       /* malformed input (syntax, length, layout) */
    TB_ERR_CRC = -7,          /* checksum mismatch */
    TB_ERR_TIMEOUT = -8,      /* no answer in time */
    TB_ERR_NACK = -9,         /* the TinyBMS answered with an AA 00 error frame */
    TB_ERR_MISMATCH = -10,    /* read-back differs from what was written */
    TB_ERR_BUSY = -11,        /* another operation is in progress */
    TB_ERR_STATE = -12,       /* not allowed in the current state */
    TB_ERR_IO = -13,          /* port-level I/O failure (see errno in the port's log) */
    TB_ERR_UNSUPPORTED = -14, /* feature or value not supported */
    TB_ERR_STALE = -15,       /* data too old to be used */
    TB_ERR_AUTH = -16,        /* authentication or authorisation failed */
    TB_ERR_TOO_LARGE = -17,   /* input larger than the accepted maximum */
    TB_ERR_UNEXPECTED = -18,  /* a valid frame that does not answer the request */
    TB_ERR_CANCELLED = -19    /* operation abandoned (shutdown, link reset) */
} tb_err_t;

/* Refuse with a reason: stores `reason` (a static string) in *why when why is not NULL and
 * returns err. The one helper behind every "int f(..., const char **why)" check. */
static inline int tb_err_why(const char **why, int err, const char *reason)
{
    if (why) {
        *why = reason;
    }
    return err;
}

/* Short English description of an error code; never NULL (unknown codes give "unknown error"). */
const char *tb_err_str(int err);

/* Stable identifier such as "range" or "timeout", for JSON error objects; never NULL. */
const char *tb_err_name(int err);

#endif

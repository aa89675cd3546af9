/* utf8: the one UTF-8 check of the gateway (RFC 3629: no overlong forms, no UTF-16 surrogates,
 * nothing above U+10FFFF, no truncated sequence). Used by the JSON gate (app/json_in), the
 * WebSocket rules (app/ws_rx) and the log-line sanitizer of the WebSocket (app/api_ws).
 * Pure functions, no state; never read past s + n. */
#ifndef APP_UTF8_H
#define APP_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed sequence that starts s[0..n), or 0 if it is not one (n == 0
 * gives 0). */
size_t utf8_seq_len(const uint8_t *s, size_t n);

/* True if s[0..n) is well-formed UTF-8 as a whole. */
bool utf8_valid(const void *s, size_t n);

#endif

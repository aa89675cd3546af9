#include "app/netaddr.h"

#include <string.h>

#include "core/tb_err.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fail(const char **why, const char *w)
{
    if (why) {
        *why = w;
    }
    return TB_ERR_RANGE;
}

bool netaddr_is_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.') {
                return false;
            }
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i]) && i - start < 3u) {
            v = v * 10u + (unsigned)(s[i] - '0');
            i++;
        }
        size_t len = i - start;
        if (len == 0u || v > 255u || (len > 1u && s[start] == '0') || (i < n && is_digit(s[i]))) {
            return false;
        }
    }
    return i == n;
}

bool netaddr_is_ipv6(const char *s, size_t n)
{
    const char *pct = memchr(s, '%', n);
    if (pct) {
        /* zone: an interface name or number (RFC 6874 allows unreserved characters) */
        size_t zl = n - (size_t)(pct - s) - 1u;
        if (zl == 0u) {
            return false;
        }
        for (const char *z = pct + 1; z < s + n; z++) {
            if (!is_alnum(*z) && *z != '-' && *z != '.' && *z != '_' && *z != '~') {
                return false;
            }
        }
        n = (size_t)(pct - s);
    }
    if (n < 2u) {
        return false;
    }
    size_t i = 0;
    unsigned groups = 0;
    bool dbl = false;
    if (s[0] == ':') {
        if (s[1] != ':') {
            return false; /* a single leading ':' */
        }
        dbl = true;
        i = 2;
    }
    while (i < n) {
        size_t j = i;
        while (j < n && is_hex(s[j])) {
            j++;
        }
        if (j < n && s[j] == '.') {
            /* an IPv4 tail ("::ffff:192.0.2.1") ends the address and counts as two groups */
            if (!netaddr_is_ipv4(s + i, n - i)) {
                return false;
            }
            groups += 2u;
            break;
        }
        if (j == i || j - i > 4u) {
            return false;
        }
        groups++;
        i = j;
        if (i == n) {
            break;
        }
        if (s[i] != ':') {
            return false;
        }
        i++;
        if (i == n) {
            return false; /* a single trailing ':' */
        }
        if (s[i] == ':') {
            if (dbl) {
                return false; /* "::" only once */
            }
            dbl = true;
            i++;
        }
    }
    return dbl ? groups <= 7u : groups == 8u;
}

/* Only numbers and dots (decimal or inet_aton's 0x hex): meant as an IPv4 address, never a name. */
static bool looks_numeric(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        if (j + 1u < n && s[j] == '0' && (s[j + 1u] == 'x' || s[j + 1u] == 'X')) {
            j += 2u;
            while (j < n && is_hex(s[j])) {
                j++;
            }
        } else {
            while (j < n && is_digit(s[j])) {
                j++;
            }
        }
        if (j == i || (j < n && s[j] != '.')) {
            return false;
        }
        i = j + 1u;
    }
    return true;
}

bool netaddr_is_hostname(const char *s, size_t n)
{
    if (n > 0u && s[n - 1u] == '.') {
        n--; /* one trailing dot: the absolute form */
    }
    if (n == 0u || n > 253u || looks_numeric(s, n)) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0u || label > 63u || s[i - 1u] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        char c = s[i];
        if (!is_alnum(c) && c != '-' && c != '_') {
            return false;
        }
        if (label == 0u && c == '-') {
            return false;
        }
        label++;
    }
    return true;
}

bool netaddr_parse_port(const char *s, size_t n, uint16_t *port, const char **why)
{
    if (n == 0u) {
        (void)fail(why, "the port is missing (HOST:PORT)");
        return false;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            (void)fail(why, i > 0u ? "unexpected text after the port" : "the port is not a number (1..65535)");
            return false;
        }
        if (v <= 65535u) {
            v = v * 10u + (uint32_t)(s[i] - '0');
        }
    }
    if (v == 0u) {
        (void)fail(why, "port 0 is not allowed: it would pick a random port (use 1..65535)");
        return false;
    }
    if (v > 65535u) {
        (void)fail(why, "the port is out of range 1..65535");
        return false;
    }
    if (port) {
        *port = (uint16_t)v;
    }
    return true;
}

/* The host s[0..n), not bracketed; v6_ok: a bare IPv6 address is acceptable here. */
static int check_host(const char *s, size_t n, bool v6_ok, netaddr_kind_t *kind, const char **why)
{
    if (n == 0u) {
        return fail(why, "the host is missing (0.0.0.0 means every IPv4 address of this machine)");
    }
    if (netaddr_is_ipv4(s, n)) {
        *kind = NETADDR_IPV4;
        return TB_OK;
    }
    if (memchr(s, ':', n)) {
        if (!netaddr_is_ipv6(s, n)) {
            return fail(why, "not a valid IPv6 address");
        }
        if (!v6_ok) {
            return fail(why, "an IPv6 address needs brackets here: [ADDRESS]:PORT, e.g. [::1]:8080");
        }
        *kind = NETADDR_IPV6;
        return TB_OK;
    }
    if (looks_numeric(s, n)) {
        return fail(why, "not a valid IPv4 address (four numbers 0..255: a.b.c.d)");
    }
    if (!netaddr_is_hostname(s, n)) {
        return fail(why, n > 253u ? "the host name is longer than 253 characters"
                                  : "not a valid host name (letters, digits, '-' and '_' in dot-separated "
                                    "labels of 1..63 characters, no '-' at either end)");
    }
    *kind = NETADDR_NAME;
    return TB_OK;
}

int netaddr_parse(const char *s, size_t len, netaddr_form_t form, netaddr_t *out, const char **why)
{
    if (!s || len == 0u) {
        return fail(why, "the address is empty");
    }
    if (memchr(s, '\0', len)) {
        return fail(why, "the address contains a NUL byte");
    }
    netaddr_t a = {NETADDR_NAME, 0, 0, 0};
    const char *port = NULL; /* text after the separating ':' */
    size_t port_len = 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            return fail(why, "'[' without the closing ']' of an IPv6 address");
        }
        if (form == NETADDR_HOST_ONLY) {
            return fail(why, "write an IPv6 address here without brackets (e.g. ::1)");
        }
        a.host_off = 1;
        a.host_len = (size_t)(close - s) - 1u;
        if (a.host_len == 0u || !netaddr_is_ipv6(s + 1, a.host_len)) {
            return fail(why, "not a valid IPv6 address inside [ ]");
        }
        a.kind = NETADDR_IPV6;
        size_t rest = len - (size_t)(close - s) - 1u;
        if (rest > 0u) {
            if (close[1] != ':') {
                return fail(why, "unexpected text after ']' (expected :PORT)");
            }
            port = close + 2;
            port_len = rest - 1u;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        size_t colons = 0;
        for (size_t i = 0; i < len; i++) {
            colons += s[i] == ':';
        }
        bool v6 = colons > 1u && netaddr_is_ipv6(s, len);
        if (form == NETADDR_HOST_ONLY) {
            if (colons == 1u) {
                return fail(why, "a host only, without :PORT (the port has its own key)");
            }
            a.host_len = len; /* a bare IPv6 address, or no ':' at all */
        } else if (colons > 1u) {
            /* no brackets: an IPv6 address, perhaps with a port glued on */
            return fail(why, !v6 ? "an IPv6 address needs brackets here: [ADDRESS]:PORT, e.g. [::1]:8080"
                             : form == NETADDR_PORT_OPTIONAL
                                 ? "an IPv6 address needs brackets here: [ADDRESS]"
                                 : "the port is missing: an IPv6 address goes in brackets, [ADDRESS]:PORT");
        } else {
            size_t digits = 0;
            while (digits < len && is_digit(s[digits])) {
                digits++;
            }
            if (!colon && form == NETADDR_PORT_REQUIRED && digits == len) {
                return fail(why, "only a port: write ADDRESS:PORT (0.0.0.0:PORT for every IPv4 address)");
            }
            a.host_len = colon ? (size_t)(colon - s) : len;
            if (colon) {
                port = colon + 1;
                port_len = len - a.host_len - 1u;
            }
        }
        int rc = check_host(s, a.host_len, form == NETADDR_HOST_ONLY, &a.kind, why);
        if (rc != TB_OK) {
            return rc;
        }
    }
    if (port) {
        if (!netaddr_parse_port(port, port_len, &a.port, why)) {
            return TB_ERR_RANGE;
        }
    } else if (form == NETADDR_PORT_REQUIRED) {
        return fail(why, "the port is missing (HOST:PORT, e.g. 0.0.0.0:8080)");
    }
    if (out) {
        *out = a;
    }
    return TB_OK;
}

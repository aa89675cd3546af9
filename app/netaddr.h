/* netaddr: the syntax of the network addresses in the configuration (gateway.http, mqtt.host,
 * the authority of mqtt.web_url), checked once, by every key that holds one.
 *
 * Purely syntactic: no OS call, no name resolution, no allocation. Whether an address is on this
 * host, free, or resolvable is only known when the port binds or connects; what this module
 * refuses is what can never work: a port outside 1..65535 (0 would bind a random port), a
 * malformed IPv4 or IPv6 literal, a host name that DNS cannot carry, a missing or extra port,
 * text after the port.
 *
 * Accepted forms:
 *   host       IPv4 dotted decimal (0..255, no leading zeros: "010" would be octal to
 *              inet_aton), IPv6 (RFC 4291 text form, "::" once, an IPv4 tail, a "%zone"), or a
 *              host name (labels of 1..63 letters, digits, '-' and '_' (common in container
 *              names), no '-' at either end of a label, at most 253 characters, one trailing '.'
 *              allowed). Something made only of numbers and dots must be a valid IPv4 address
 *              ("1.2.3" and "999.1.1.1" are refused, not taken for names).
 *   HOST:PORT  with an IPv6 address in brackets: "[::1]:8080", "[fe80::1%eth0]:8080".
 *   port       decimal digits, 1..65535.
 *
 * Thread safety: none needed (pure functions).
 */
#ifndef APP_NETADDR_H
#define APP_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { NETADDR_NAME = 0, NETADDR_IPV4 = 1, NETADDR_IPV6 = 2 } netaddr_kind_t;

/* Which forms netaddr_parse() accepts. */
typedef enum {
    NETADDR_HOST_ONLY = 0, /* "host" (IPv6 without brackets): a host given with a separate port key */
    NETADDR_PORT_REQUIRED, /* "host:port", "[v6]:port": a listen or connect address */
    NETADDR_PORT_OPTIONAL  /* "host", "host:port", "[v6]", "[v6]:port": the authority of a URL */
} netaddr_form_t;

typedef struct {
    netaddr_kind_t kind;
    size_t host_off; /* the host inside the input, without brackets (an IPv6 zone included) */
    size_t host_len;
    uint16_t port;   /* 1..65535; 0 when the input has no port */
} netaddr_t;

/* Parse s[0..len) (no NUL needed; a NUL inside is refused) in the given form.
 * Returns TB_OK and fills *out (may be NULL), or TB_ERR_RANGE with *why (may be NULL) set to a
 * static sentence saying what is wrong ("the port is missing", "port 0 is not allowed ..."),
 * to be shown after the key and the value. Nothing is written to *out on error. */
int netaddr_parse(const char *s, size_t len, netaddr_form_t form, netaddr_t *out, const char **why);

/* The pieces, on s[0..n). */
bool netaddr_is_ipv4(const char *s, size_t n);
bool netaddr_is_ipv6(const char *s, size_t n); /* without brackets; "%zone" allowed */
bool netaddr_is_hostname(const char *s, size_t n);
/* Decimal 1..65535 -> *port. false (with *why) for empty, non-digits, 0 or too large. */
bool netaddr_parse_port(const char *s, size_t n, uint16_t *port, const char **why);

#endif

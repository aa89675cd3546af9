/* libFuzzer harness for the address syntax (app/netaddr: netaddr_parse), fed with arbitrary
 * bytes as they could come from gateway.http, mqtt.host or the authority of mqtt.web_url (a
 * configuration file, the API, MQTT, the command line).
 *
 * The first input byte selects the form (host only, port required, port optional); the rest is
 * the address, not NUL-terminated (the replay driver and libFuzzer give an exact-size block, so
 * a read past the end is an ASan finding).
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - an error: TB_ERR_RANGE, a non-empty reason, *out untouched;
 *   - TB_OK: the host lies inside the input and is not empty; its kind agrees with the piece
 *     checkers (IPv4 / IPv6 / host name); a port is 1..65535, required when the form requires it
 *     and absent in the host-only form;
 *   - TB_OK with a port: "HOST:PORT" (or "[HOST]:PORT") rebuilt from the result parses to the
 *     same host and port (what was accepted is what a port will bind or connect to);
 *   - the same input gives the same verdict twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/netaddr.h"
#include "core/tb_err.h"

#define CHECK(c)                                                                                                       \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u) {
        return 0;
    }
    netaddr_form_t form = (netaddr_form_t)(data[0] % 3u);
    const char *s = (const char *)data + 1;
    size_t n = size - 1u;
    netaddr_t a, b;
    memset(&a, 0xA5, sizeof a);
    memset(&b, 0xA5, sizeof b);
    const netaddr_t untouched = a;
    const char *why = NULL, *why2 = NULL;
    int rc = netaddr_parse(s, n, form, &a, &why);
    int rc2 = netaddr_parse(s, n, form, &b, &why2);
    CHECK(rc == rc2);
    if (rc != TB_OK) {
        CHECK(rc == TB_ERR_RANGE);
        CHECK(why != NULL && why[0] != '\0' && why == why2);
        CHECK(memcmp(&a, &untouched, sizeof a) == 0);
        return 0;
    }
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(a.host_len > 0u && a.host_off <= n && a.host_len <= n - a.host_off);
    const char *h = s + a.host_off;
    switch (a.kind) {
    case NETADDR_IPV4:
        CHECK(netaddr_is_ipv4(h, a.host_len));
        break;
    case NETADDR_IPV6:
        CHECK(netaddr_is_ipv6(h, a.host_len));
        break;
    case NETADDR_NAME:
        CHECK(netaddr_is_hostname(h, a.host_len) && !netaddr_is_ipv4(h, a.host_len));
        break;
    default:
        CHECK(0);
    }
    if (form == NETADDR_HOST_ONLY) {
        CHECK(a.port == 0u && a.host_off == 0u && a.host_len == n);
    } else if (form == NETADDR_PORT_REQUIRED) {
        CHECK(a.port >= 1u);
    }
    if (a.port) {
        char buf[512];
        CHECK(a.host_len < 400u);
        int k = a.kind == NETADDR_IPV6 ? snprintf(buf, sizeof buf, "[%.*s]:%u", (int)a.host_len, h, (unsigned)a.port)
                                       : snprintf(buf, sizeof buf, "%.*s:%u", (int)a.host_len, h, (unsigned)a.port);
        CHECK(k > 0 && (size_t)k < sizeof buf);
        netaddr_t r;
        CHECK(netaddr_parse(buf, (size_t)k, NETADDR_PORT_REQUIRED, &r, NULL) == TB_OK);
        CHECK(r.kind == a.kind && r.port == a.port && r.host_len == a.host_len);
        CHECK(memcmp(buf + r.host_off, h, a.host_len) == 0);
    }
    return 0;
}

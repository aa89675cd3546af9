/* app/netaddr: the address syntax every address key of the configuration is checked with, and its
 * use by those keys (gateway.http, mqtt.host, mqtt.web_url; can.port's spec check alongside):
 * each bad form is refused with the key named and the reason, each good form accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/can_sched.h"
#include "app/config.h"
#include "app/netaddr.h"
#include "core/tb_err.h"

static int parse(const char *s, netaddr_form_t form, netaddr_t *a, const char **why)
{
    return netaddr_parse(s, strlen(s), form, a, why);
}

/* HOST:PORT forms that must be refused, with a word of the reason each must give. */
static void hostport_refused(void **state)
{
    (void)state;
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"127.0.0.1:99999", "out of range"},
        {"127.0.0.1:65536", "out of range"},
        {"127.0.0.1:0", "port 0"},
        {"0.0.0.0:00000", "port 0"},
        {"127.0.0.1:123456789012345678901234567890", "out of range"},
        {"abc", "port is missing"},
        {"127.0.0.1", "port is missing"},
        {"127.0.0.1:", "port is missing"},
        {"localhost", "port is missing"},
        {"127.0.0.1:8080x", "after the port"},
        {"127.0.0.1:8080 ", "after the port"},
        {"127.0.0.1:8080/", "after the port"},
        {"127.0.0.1:8080,8443s", "after the port"},
        {"127.0.0.1:80:80", "brackets"},
        {"127.0.0.1:http", "not a number"},
        {"127.0.0.1:-1", "not a number"},
        {"127.0.0.1:+80", "not a number"},
        {"127.0.0.1: 80", "not a number"},
        {":8080", "host is missing"},
        {"8080", "only a port"},
        {"256.0.0.1:8080", "IPv4"},
        {"1.2.3:8080", "IPv4"},
        {"1.2.3.4.5:8080", "IPv4"},
        {"01.2.3.4:8080", "IPv4"},
        {"1.2.3.04:8080", "IPv4"},
        {"0x7f.1:8080", "IPv4"},
        {"1..2.3:8080", "host name"},
        {"999:8080", "IPv4"},
        {"-bad.lan:8080", "host name"},
        {"bad-.lan:8080", "host name"},
        {"a..b:8080", "host name"},
        {"bad host:8080", "host name"},
        {"h\xc3\xa9te:8080", "host name"},
        {"a/b:8080", "host name"},
        {"http://x:8080", "brackets"}, /* two ':' without brackets */
        {".:8080", "host name"},
        /* IPv6 */
        {"::1:8080", "brackets"},
        {"::1", "brackets"},
        {"fe80::1", "brackets"},
        {"[::1]", "port is missing"},
        {"[::1]:", "port is missing"},
        {"[::1]8080", "after ']'"},
        {"[::1]:0", "port 0"},
        {"[::1]:70000", "out of range"},
        {"[::1:8080", "closing ']'"},
        {"[]:8080", "IPv6"},
        {"[1.2.3.4]:8080", "IPv6"},
        {"[localhost]:8080", "IPv6"},
        {"[:::]:8080", "IPv6"},
        {"[1::2::3]:8080", "IPv6"},
        {"[12345::]:8080", "IPv6"},
        {"[1:2:3:4:5:6:7:8:9]:8080", "IPv6"},
        {"[1:2:3:4:5:6:7]:8080", "IPv6"},
        {"[:1:2:3:4:5:6:7]:8080", "IPv6"},
        {"[1:2:3:4:5:6:7:]:8080", "IPv6"},
        {"[::g]:8080", "IPv6"},
        {"[::1%]:8080", "IPv6"},
        {"[::1%a b]:8080", "IPv6"},
        {"[1:2:3:4:5:6:7:1.2.3.4]:8080", "IPv6"},
        {"[::1.2.3]:8080", "IPv6"},
        {"[::1.2.3.4:5]:8080", "IPv6"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        netaddr_t a = {NETADDR_NAME, 7, 7, 7};
        int rc = parse(bad[i].in, NETADDR_PORT_REQUIRED, &a, &why);
        if (rc != TB_ERR_RANGE) {
            fail_msg("accepted \"%s\"", bad[i].in);
        }
        if (!why || !strstr(why, bad[i].why)) {
            fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i].in, why ? why : "(null)", bad[i].why);
        }
        assert_int_equal(a.port, 7); /* nothing written on error */
    }
    const char *why = NULL;
    assert_int_equal(netaddr_parse(NULL, 0, NETADDR_PORT_REQUIRED, NULL, &why), TB_ERR_RANGE);
    assert_int_equal(netaddr_parse("1.2.3.4:8\0" "0", 11, NETADDR_PORT_REQUIRED, NULL, &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "NUL"));
    /* why may be NULL */
    assert_int_equal(parse("x:0", NETADDR_PORT_REQUIRED, NULL, NULL), TB_ERR_RANGE);
}

static void hostport_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        netaddr_kind_t kind;
        const char *host;
        uint16_t port;
    } good[] = {
        {"0.0.0.0:8080", NETADDR_IPV4, "0.0.0.0", 8080},
        {"127.0.0.1:1", NETADDR_IPV4, "127.0.0.1", 1},
        {"255.255.255.255:65535", NETADDR_IPV4, "255.255.255.255", 65535},
        {"192.0.2.1:8080", NETADDR_IPV4, "192.0.2.1", 8080},
        {"10.0.0.10:08080", NETADDR_IPV4, "10.0.0.10", 8080}, /* leading zeros in a port are only decimal */
        {"localhost:8080", NETADDR_NAME, "localhost", 8080},
        {"gw.example.com.:80", NETADDR_NAME, "gw.example.com.", 80},
        {"my_broker:1883", NETADDR_NAME, "my_broker", 1883},
        {"a-b.c1:1", NETADDR_NAME, "a-b.c1", 1},
        {"1host:1", NETADDR_NAME, "1host", 1},
        {"[::]:8080", NETADDR_IPV6, "::", 8080},
        {"[::1]:8080", NETADDR_IPV6, "::1", 8080},
        {"[fe80::1%eth0]:8080", NETADDR_IPV6, "fe80::1%eth0", 8080},
        {"[2001:db8::8:800:200c:417a]:443", NETADDR_IPV6, "2001:db8::8:800:200c:417a", 443},
        {"[1:2:3:4:5:6:7:8]:1", NETADDR_IPV6, "1:2:3:4:5:6:7:8", 1},
        {"[1::]:1", NETADDR_IPV6, "1::", 1},
        {"[::ffff:192.0.2.1]:1", NETADDR_IPV6, "::ffff:192.0.2.1", 1},
        {"[1:2:3:4:5:6:1.2.3.4]:1", NETADDR_IPV6, "1:2:3:4:5:6:1.2.3.4", 1},
        {"[ABCD:EF01::]:1", NETADDR_IPV6, "ABCD:EF01::", 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *why = NULL;
        netaddr_t a;
        int rc = parse(good[i].in, NETADDR_PORT_REQUIRED, &a, &why);
        if (rc != TB_OK) {
            fail_msg("refused \"%s\": %s", good[i].in, why ? why : "?");
        }
        assert_int_equal(a.kind, good[i].kind);
        assert_int_equal(a.port, good[i].port);
        assert_int_equal(a.host_len, strlen(good[i].host));
        assert_memory_equal(good[i].in + a.host_off, good[i].host, a.host_len);
    }
    /* a host name of 253 characters (labels of 63) is the longest */
    char name[300];
    memset(name, 'a', sizeof name);
    for (size_t i = 63; i < 253; i += 64) {
        name[i] = '.';
    }
    snprintf(name + 253, sizeof name - 253, ":80");
    assert_int_equal(parse(name, NETADDR_PORT_REQUIRED, NULL, NULL), TB_OK);
    name[252] = 'a';
    snprintf(name + 253, sizeof name - 253, "a:80");
    const char *why = NULL;
    assert_int_equal(parse(name, NETADDR_PORT_REQUIRED, NULL, &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "253"));
    /* a label of 64 characters */
    memset(name, 'b', 64);
    snprintf(name + 64, sizeof name - 64, ".lan:80");
    assert_int_equal(parse(name, NETADDR_PORT_REQUIRED, NULL, &why), TB_ERR_RANGE);
}

/* A host given with its own port key (mqtt.host): bare IPv6, no port, no brackets. */
static void host_only(void **state)
{
    (void)state;
    static const char *const good[] = {"localhost", "broker.lan", "192.168.1.10", "::1", "fe80::1%wlan0",
                                       "2001:db8::1", "mqtt_broker", "x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *why = NULL;
        if (parse(good[i], NETADDR_HOST_ONLY, NULL, &why) != TB_OK) {
            fail_msg("refused \"%s\": %s", good[i], why);
        }
    }
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"broker:1883", "without :PORT"},
        {"192.168.1.10:1883", "without :PORT"},
        {"[::1]", "without brackets"},
        {"[::1]:1883", "without brackets"},
        {"::1::2", "IPv6"},
        {"bad host", "host name"},
        {"300.1.1.1", "IPv4"},
        {"mqtt://broker", "without :PORT"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        if (parse(bad[i].in, NETADDR_HOST_ONLY, NULL, &why) != TB_ERR_RANGE) {
            fail_msg("accepted \"%s\"", bad[i].in);
        }
        if (!strstr(why, bad[i].why)) {
            fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i].in, why, bad[i].why);
        }
    }
}

/* A URL authority (mqtt.web_url): the port is optional. */
static void port_optional(void **state)
{
    (void)state;
    netaddr_t a;
    assert_int_equal(parse("gw.lan", NETADDR_PORT_OPTIONAL, &a, NULL), TB_OK);
    assert_int_equal(a.port, 0);
    assert_int_equal(parse("[::1]", NETADDR_PORT_OPTIONAL, &a, NULL), TB_OK);
    assert_int_equal(a.kind, NETADDR_IPV6);
    assert_int_equal(parse("[::1]:8080", NETADDR_PORT_OPTIONAL, &a, NULL), TB_OK);
    assert_int_equal(a.port, 8080);
    const char *why = NULL;
    assert_int_equal(parse("::1", NETADDR_PORT_OPTIONAL, &a, &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "brackets"));
    assert_int_equal(parse("gw.lan:0", NETADDR_PORT_OPTIONAL, &a, &why), TB_ERR_RANGE);
}

/* The pieces on their own. */
static void pieces(void **state)
{
    (void)state;
    assert_true(netaddr_is_ipv4("0.0.0.0", 7));
    assert_false(netaddr_is_ipv4("1.2.3.4 ", 8));
    assert_false(netaddr_is_ipv4("1.2.3.", 6));
    assert_false(netaddr_is_ipv4("1.2.3.1000", 10));
    assert_true(netaddr_is_ipv6("::", 2));
    assert_false(netaddr_is_ipv6(":", 1));
    assert_false(netaddr_is_ipv6("1:", 2));
    assert_true(netaddr_is_hostname("a", 1));
    assert_false(netaddr_is_hostname(".", 1));
    assert_false(netaddr_is_hostname("a..", 3));
    uint16_t p = 0;
    const char *why = NULL;
    assert_true(netaddr_parse_port("65535", 5, &p, &why));
    assert_int_equal(p, 65535);
    assert_false(netaddr_parse_port("", 0, &p, &why));
    assert_false(netaddr_parse_port("0", 1, &p, &why));
    assert_int_equal(p, 65535); /* unchanged */
}

static int apply(gw_config_t *c, const char *json, cfg_diag_t *d)
{
    return gw_config_apply_json(c, json, strlen(json), 0, d);
}

/* Through the configuration: the key is named, the value and the reason are in the message, and
 * the caller's copy is the only thing written (it keeps the old one on error). */
static void config_keys(void **state)
{
    (void)state;
    static const struct {
        const char *json, *key, *msg;
    } bad[] = {
        {"{\"gateway\":{\"http\":\"127.0.0.1:99999\"}}", "gateway.http",
         "gateway.http = \"127.0.0.1:99999\" is not a valid listen address: the port is out of range 1..65535"},
        {"{\"gateway\":{\"http\":\"127.0.0.1:0\"}}", "gateway.http", "port 0 is not allowed"},
        {"{\"gateway\":{\"http\":\"abc\"}}", "gateway.http", "the port is missing"},
        {"{\"gateway\":{\"http\":\"0.0.0.0\"}}", "gateway.http", "the port is missing"},
        {"{\"gateway\":{\"http\":\"0.0.0.0:8080 \"}}", "gateway.http", "unexpected text after the port"},
        {"{\"gateway\":{\"http\":\"0.0.0.0:8080abc\"}}", "gateway.http", "unexpected text after the port"},
        {"{\"gateway\":{\"http\":\"::1:8080\"}}", "gateway.http", "brackets"},
        {"{\"gateway\":{\"http\":\"localhost:8080\"}}", "gateway.http", "numeric IPv4 or IPv6 address of this host"},
        {"{\"mqtt\":{\"host\":\"broker:1883\"}}", "mqtt.host",
         "mqtt.host = \"broker:1883\": a host only, without :PORT"},
        {"{\"mqtt\":{\"host\":\"[::1]\"}}", "mqtt.host", "without brackets"},
        {"{\"mqtt\":{\"host\":\"999.1.1.1\"}}", "mqtt.host", "not a valid IPv4 address"},
        {"{\"mqtt\":{\"host\":\"a b\"}}", "mqtt.host", "not a valid host name"},
        {"{\"mqtt\":{\"web_url\":\"http://gw.lan:99999/\"}}", "mqtt.web_url", "out of range"},
        {"{\"mqtt\":{\"web_url\":\"http://::1/\"}}", "mqtt.web_url", "brackets"},
        {"{\"mqtt\":{\"web_url\":\"http://user@gw/\"}}", "mqtt.web_url", "user name"},
        {"{\"mqtt\":{\"web_url\":\"http:///\"}}", "mqtt.web_url", "empty"},
        {"{\"can\":{\"port\":\"socketcan:averyveryverylongname\"}}", "can.port",
         "can.port = \"socketcan:averyveryverylongname\": socketcan: needs an interface name of 1..15"},
        {"{\"can\":{\"port\":\"socketcan:can/0\"}}", "can.port", "interface name"},
        {"{\"can\":{\"port\":\"socketcan:\"}}", "can.port", "socketcan:IFACE"},
        {"{\"can\":{\"port\":\"slcan:/dev/ttyACM0@12345\"}}", "can.port", "tty speed"},
        {"{\"can\":{\"port\":\"slcan:/dev/ttyACM0@\"}}", "can.port", "tty speed"},
        {"{\"can\":{\"port\":\"slcan:/dev/ttyACM0@115200x\"}}", "can.port", "tty speed"},
        {"{\"can\":{\"port\":\"slcan:@115200\"}}", "can.port", "device path is missing"},
        {"{\"can\":{\"port\":\"log:\"}}", "can.port", "log:PATH"},
        {"{\"can\":{\"port\":\"can0\"}}", "can.port", "socketcan:IFACE"},
        {"{\"can\":{\"port\":\"twai:0\"}}", "can.port", "or twai (the ESP32's controller)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_config_t c;
        cfg_diag_t d;
        gw_config_defaults(&c);
        int rc = apply(&c, bad[i].json, &d);
        if (rc == TB_OK) {
            fail_msg("accepted %s", bad[i].json);
        }
        assert_string_equal(d.key, bad[i].key);
        if (!strstr(d.message, bad[i].msg)) {
            fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].json, d.message, bad[i].msg);
        }
    }
    static const char *const good[] = {
        "{\"gateway\":{\"http\":\"127.0.0.1:8080\"}}",
        "{\"gateway\":{\"http\":\"[::1]:8080\"}}",
        "{\"gateway\":{\"http\":\"0.0.0.0:65535\"}}",
        "{\"mqtt\":{\"host\":\"::1\"}}",
        "{\"mqtt\":{\"host\":\"192.168.1.10\"}}",
        "{\"mqtt\":{\"host\":\"\"}}", /* allowed while MQTT is off */
        "{\"mqtt\":{\"web_url\":\"https://[fe80::1]:8443/ui?x=1#y\"}}",
        "{\"mqtt\":{\"web_url\":\"http://gw.lan\"}}",
        "{\"can\":{\"port\":\"socketcan:vcan0\"}}",
        "{\"can\":{\"port\":\"socketcan:can-bus_15chars\"}}",
        "{\"can\":{\"port\":\"slcan:/dev/ttyACM0\"}}",
        "{\"can\":{\"port\":\"slcan:/dev/ttyACM0@921600\"}}",
        "{\"can\":{\"port\":\"log:/tmp/can log.txt\"}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        gw_config_t c;
        cfg_diag_t d;
        gw_config_defaults(&c);
        if (apply(&c, good[i], &d) != TB_OK) {
            fail_msg("refused %s: %s", good[i], d.message);
        }
    }
    /* a struct loaded some other way (storage, a port's own code) is refused by the check too */
    gw_config_t c;
    cfg_diag_t d;
    gw_config_defaults(&c);
    snprintf(c.gateway.http_listen, sizeof c.gateway.http_listen, "%s", "0.0.0.0:99999");
    assert_int_equal(gw_config_check(&c, &d), TB_ERR_RANGE);
    assert_string_equal(d.key, "gateway.http");
    assert_null(can_sched_port_spec_error("log:x"));
    /* log:PATH@SIZE: the bound of the file */
    assert_null(can_sched_port_spec_error("log:/var/log/can.log@16M"));
    assert_null(can_sched_port_spec_error("log:x@4096"));
    assert_null(can_sched_port_spec_error("log:x@512k"));
    assert_null(can_sched_port_spec_error("log:x@0"));
    assert_null(can_sched_port_spec_error("log:x@1024M"));
    assert_non_null(can_sched_port_spec_error("log:x@1025M"));
    assert_non_null(can_sched_port_spec_error("log:x@"));
    assert_non_null(can_sched_port_spec_error("log:x@16MB"));
    assert_non_null(can_sched_port_spec_error("log:x@-1"));
    assert_non_null(can_sched_port_spec_error("log:user@host/can.log"));
    assert_non_null(can_sched_port_spec_error("log:@16M"));
    assert_non_null(can_sched_port_spec_error("log:"));
    uint64_t bytes = 0;
    assert_true(can_sched_log_size("8M", &bytes) && bytes == 8u * 1024u * 1024u);
    assert_true(can_sched_log_size("3k", &bytes) && bytes == 3072u);
    assert_false(can_sched_log_size("99999999999999999999", &bytes));
    /* the ESP32 firmware's TWAI controller: exactly "twai" */
    assert_null(can_sched_port_spec_error("twai"));
    assert_non_null(can_sched_port_spec_error("twai0"));
    assert_non_null(can_sched_port_spec_error("TWAI"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostport_refused), cmocka_unit_test(hostport_accepted), cmocka_unit_test(host_only),
        cmocka_unit_test(port_optional),    cmocka_unit_test(pieces),            cmocka_unit_test(config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

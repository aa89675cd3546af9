/* net_mdns: "tinybms-XXXX.local" from lwIP's mDNS responder (net_mdns.h). */
#include "sdkconfig.h"

#if CONFIG_TB_MDNS

#include "net_mdns.h"

#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "esp_mac.h"
#include "esp_netif_net_stack.h"
#include "lwip/apps/mdns.h"

#if LWIP_NUM_NETIF_CLIENT_DATA < LWIP_ESP_NETIF_DATA + 1
#error "TB_MDNS needs CONFIG_LWIP_NUM_NETIF_CLIENT_DATA=1 (one netif slot for the responder, beside esp-netif's own when it has one)"
#endif

#define TTL_S 120u

typedef struct {
    esp_netif_t *nif;
    uint16_t port;
    char host[20];
} arg_t;

static void txt(struct mdns_service *service, void *userdata)
{
    (void)userdata;
    static const char path[] = "path=/";
    (void)mdns_resp_add_service_txtitem(service, path, (u8_t)(sizeof path - 1u));
}

/* lwIP's thread: the end of probing. A conflict (another device answers for the name) stops the
 * responder for good: lwIP 2.1.3 probes no more and answers nothing, so the name stays unused. */
static void probed(struct netif *netif, u8_t result)
{
    (void)netif;
    if (result == MDNS_PROBING_CONFLICT) {
        LOGW("net", "mDNS: another device answers for this name: not used; reach the gateway by its address");
    }
}

/* lwIP's thread (esp_netif_tcpip_exec) */
static esp_err_t add(void *ctx)
{
    static bool inited;
    const arg_t *a = ctx;
    struct netif *n = esp_netif_get_netif_impl(a->nif);
    if (!n) {
        return ESP_ERR_INVALID_STATE;
    }
    if (!inited) {
        mdns_resp_init();
        mdns_resp_register_name_result_cb(probed);
        inited = true;
    }
    if (mdns_resp_add_netif(n, a->host, TTL_S) != ERR_OK) {
        return ESP_FAIL;
    }
    if (a->port && mdns_resp_add_service(n, "TinyBMS gateway", "_http", DNSSD_PROTO_TCP, a->port, TTL_S, txt, NULL) < 0) {
        LOGW("net", "mDNS: the web UI's service record was not added");
    }
    return ESP_OK;
}

void net_mdns_link_up(esp_netif_t *nif)
{
#if CONFIG_LWIP_IPV6
    esp_err_t e = esp_netif_create_ip6_linklocal(nif);
    if (e != ESP_OK) {
        LOGW("net", "mDNS: no IPv6 link-local address (%s): the name will not be answered", esp_err_to_name(e));
    }
#else
    (void)nif;
#endif
}

void net_mdns_start(esp_netif_t *nif, uint16_t http_port)
{
    arg_t a = {.nif = nif, .port = http_port};
    uint8_t mac[6];
#if CONFIG_TB_NET_WIFI
    /* the same four characters as the setup access point's name TinyBMS-XXXX (wifi.c) */
    esp_err_t me = esp_read_mac(mac, ESP_MAC_WIFI_SOFTAP);
#else
    esp_err_t me = esp_netif_get_mac(nif, mac);
#endif
    if (me != ESP_OK) {
        memset(mac, 0, sizeof mac);
    }
    snprintf(a.host, sizeof a.host, "tinybms-%02x%02x", mac[4], mac[5]);
    esp_err_t e = esp_netif_tcpip_exec(add, &a);
    if (e == ESP_OK) {
        LOGI("net", "mDNS: %s.local", a.host);
    } else {
        LOGW("net", "mDNS not started (%s): reach the gateway by its address", esp_err_to_name(e));
    }
}

#endif /* CONFIG_TB_MDNS */

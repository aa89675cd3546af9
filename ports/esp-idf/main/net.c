#include "net.h"

#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "esp_event.h"
#include "esp_netif.h"
#include "esp_netif_sntp.h"
#include "sdkconfig.h"
#include "soc/soc.h"
#if CONFIG_TB_NET_ETH_OPENETH
#include "esp_eth.h"
#endif
#if CONFIG_TB_NET_WIFI
#include "wifi.h"
#endif
#if CONFIG_TB_MDNS
#include "app/netaddr.h"
#include "net_mdns.h"

/* the web server's port, for the mDNS service record (0: not known) */
static uint16_t http_port(const gw_config_t *cfg)
{
    netaddr_t na;
    const char *why = NULL;
    const char *l = cfg->gateway.http_listen;
    return netaddr_parse(l, strlen(l), NETADDR_PORT_REQUIRED, &na, &why) == TB_OK && cfg->web.enabled ? na.port : 0;
}
#endif

/* the emulated MAC's mode register and its reset value (esp_eth/src/openeth.h, not public) */
#define OPENETH_MODER 0x600CD000u

#if CONFIG_TB_NET_ETH_OPENETH
static esp_netif_t *s_netif;

static void got_ip(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    const ip_event_got_ip_t *e = data;
    LOGI("net", "address " IPSTR " (gateway " IPSTR ")", IP2STR(&e->ip_info.ip), IP2STR(&e->ip_info.gw));
}

static void link_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    if (id == ETHERNET_EVENT_CONNECTED) {
        LOGI("net", "Ethernet link up");
#if CONFIG_TB_MDNS
        net_mdns_link_up(s_netif);
#endif
    } else if (id == ETHERNET_EVENT_DISCONNECTED) {
        LOGW("net", "Ethernet link down");
    }
}

#endif

#if CONFIG_TB_NET_ETH_OPENETH || CONFIG_TB_NET_WIFI
/* The wall clock, for log lines, history and events: SNTP from the server DHCP names, else
 * pool.ntp.org. Nothing depends on it (monotonic time drives the battery path); until it is set the
 * history is not recorded and times show as uptime. */
static void time_synced(struct timeval *tv)
{
    LOGI("net", "clock set by SNTP: %lld s since the epoch", (long long)tv->tv_sec);
}

static void start_sntp(int32_t got_ip_event)
{
    esp_sntp_config_t c = ESP_NETIF_SNTP_DEFAULT_CONFIG("pool.ntp.org");
    c.server_from_dhcp = true;
    c.renew_servers_after_new_IP = true;
    c.index_of_first_server = 1;
    c.ip_event_to_renew = got_ip_event;
    c.sync_cb = time_synced;
    esp_err_t e = esp_netif_sntp_init(&c);
    if (e != ESP_OK) {
        LOGW("net", "SNTP not started (%s): times show as uptime", esp_err_to_name(e));
    }
}
#endif

bool net_start(const gw_services_t *svc, const gw_config_t *cfg, char *err, size_t cap)
{
    esp_err_t e = esp_netif_init();
    if (e == ESP_OK) {
        e = esp_event_loop_create_default();
    }
    if (e != ESP_OK) {
        snprintf(err, cap, "network stack: %s", esp_err_to_name(e));
        return false;
    }
#if CONFIG_TB_NET_ETH_OPENETH
    /* ESP-IDF's open_eth driver aborts when the emulated MAC is not there (a QEMU image flashed
     * onto a board): check its reset value first, as the driver does, and go on without a network */
    if (REG_READ(OPENETH_MODER) != 0xa000u) {
        snprintf(err, cap, "this image is built for QEMU's emulated Ethernet (sdkconfig.qemu), which this board does "
                           "not have: no network (build without sdkconfig.qemu)");
        return false;
    }
    esp_netif_config_t ncfg = ESP_NETIF_DEFAULT_ETH();
    s_netif = esp_netif_new(&ncfg);
    eth_mac_config_t mac_config = ETH_MAC_DEFAULT_CONFIG();
    eth_phy_config_t phy_config = ETH_PHY_DEFAULT_CONFIG();
    phy_config.autonego_timeout_ms = 100;
    esp_eth_mac_t *mac = esp_eth_mac_new_openeth(&mac_config);
    esp_eth_phy_t *phy = esp_eth_phy_new_dp83848(&phy_config);
    esp_eth_config_t config = ETH_DEFAULT_CONFIG(mac, phy);
    esp_eth_handle_t eth = NULL;
    const char *step = "esp_eth_driver_install";
    e = esp_eth_driver_install(&config, &eth);
    if (e == ESP_OK) {
        step = "esp_netif_attach";
        e = esp_netif_attach(s_netif, esp_eth_new_netif_glue(eth));
    }
    if (e == ESP_OK) {
        (void)esp_event_handler_register(IP_EVENT, IP_EVENT_ETH_GOT_IP, got_ip, NULL);
        (void)esp_event_handler_register(ETH_EVENT, ESP_EVENT_ANY_ID, link_event, NULL);
        step = "esp_eth_start";
        e = esp_eth_start(eth);
    }
    if (e != ESP_OK) {
        snprintf(err, cap, "Ethernet: %s: %s", step, esp_err_to_name(e));
        return false;
    }
    start_sntp(IP_EVENT_ETH_GOT_IP);
#if CONFIG_TB_MDNS
    net_mdns_start(s_netif, http_port(cfg));
#endif
    return true;
#elif CONFIG_TB_NET_WIFI
    if (!wifi_start(svc, cfg, err, cap)) {
        return false;
    }
    start_sntp(IP_EVENT_STA_GOT_IP);
#if CONFIG_TB_MDNS
    net_mdns_start(wifi_sta_netif(), http_port(cfg));
#endif
    return true;
#else
    snprintf(err, cap, "no network interface in this build (menuconfig: TinyBMS gateway > Network)");
    return false;
#endif
}

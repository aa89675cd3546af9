/* wifi: the firmware's Wi-Fi (Kconfig TB_NET_WIFI): the thin ESP-IDF side of app/wifi_prov.
 *
 * One task ("wifi") owns the wifi_prov_t machine: esp_wifi and IP events, the setup page and
 * configuration changes become wifi_prov events (through a queue), its actions become esp_wifi
 * calls. Station with the saved network (configuration section "wifi"); the WPA2 setup access point
 * "TinyBMS-XXXX" (password from wifi_prov: random, stored in NVS as "wifi-ap-key", printed on the
 * console at every start) when none is saved or it cannot be joined, with a captive setup page at
 * http://192.168.4.1/setup (scan results, network name and password, errors at the field) and,
 * with TB_WIFI_DNS_CATCHALL, a DNS server that answers every query on the access point with that
 * address. Credentials from the page are tried first and saved as wifi.ssid / wifi.password (a
 * configuration command through cmdq, like PUT /api/config) once they worked.
 *
 * Nothing here runs on the owner task or blocks it: the battery path never waits for Wi-Fi.
 * Compiled only with CONFIG_TB_NET_WIFI (which needs esp_wifi in the build: -DTB_WIFI=1). */
#ifndef PORTS_ESP_WIFI_H
#define PORTS_ESP_WIFI_H

#include <stdbool.h>
#include <stddef.h>

#include "app/config.h"
#include "daemon.h"
#include "esp_http_server.h"
#include "esp_netif.h"

/* URI handlers wifi_http_register() adds (the server's max_uri_handlers must leave room). */
#define WIFI_HTTP_HANDLERS 8

/* Starts the Wi-Fi task (after esp_netif_init and the default event loop). cfg->wifi is the section in
 * use; later changes are read from the published views. false with err on failure (the battery path runs
 * on without a network). */
bool wifi_start(const gw_services_t *svc, const gw_config_t *cfg, char *err, size_t cap);

/* The station's interface (after a successful wifi_start), for mDNS. */
esp_netif_t *wifi_sta_netif(void);

/* Registers the setup page and the captive-portal probes on the web server; call before its catch-all
 * handler (the first matching handler wins). They answer only requests that arrive through the setup
 * access point (404 elsewhere: on the LAN the network is changed on the configuration page, section
 * "wifi", as admin). */
void wifi_http_register(httpd_handle_t hd);

#endif

/* net_mdns: the gateway's name on the LAN, "tinybms-XXXX.local" (XXXX: the last two bytes of a
 * MAC: with Wi-Fi the setup access point's, so that the name matches its "TinyBMS-XXXX"; else the
 * interface's), and its web UI as an "_http._tcp"
 * service, from lwIP's own mDNS responder (lwip/src/apps/mdns, which ESP-IDF ships but does not
 * build: main/CMakeLists.txt compiles it with LWIP_MDNS_RESPONDER=1 when Kconfig TB_MDNS is set).
 * ESP-IDF 5.1's own mdns component is a managed component, not part of an offline ESP-IDF.
 * Kconfig TB_MDNS (on by default; needs CONFIG_LWIP_NUM_NETIF_CLIENT_DATA=1). The responder
 * probes on IPv4 and IPv6 and answers only once probing is done, so the interface needs an IPv6
 * link-local address (net_mdns_link_up()); without one it probed every 250 ms for ever and never
 * answered (docs/porting.md "mDNS"). */
#ifndef PORTS_ESP_NET_MDNS_H
#define PORTS_ESP_NET_MDNS_H
#include <stdint.h>
#include "esp_netif.h"
/* Announces the name on nif (any task; the work runs in lwIP's thread). Logs the name, or why not.
 * http_port: the web server's port for the service record (0: none). */
void net_mdns_start(esp_netif_t *nif, uint16_t http_port);
/* The link of nif came up (its event handler): gives it an IPv6 link-local address. lwIP's
 * responder probes on IPv4 and IPv6 and counts a probe only when both were sent; without an IPv6
 * address it would probe forever (every 250 ms) and never answer. */
void net_mdns_link_up(esp_netif_t *nif);
#endif

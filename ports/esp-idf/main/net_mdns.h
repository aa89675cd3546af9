/* net_mdns: the gateway's name on the LAN, "tinybms-XXXX.local" (XXXX: the last two bytes of the
 * interface's MAC, as the setup access point's "TinyBMS-XXXX"), and its web UI as an "_http._tcp"
 * service, from lwIP's own mDNS responder (lwip/src/apps/mdns, which ESP-IDF ships but does not
 * build: main/CMakeLists.txt compiles it with LWIP_MDNS_RESPONDER=1 when Kconfig TB_MDNS is set).
 * ESP-IDF 5.1's own mdns component is a managed component, not part of an offline ESP-IDF.
 * EXPERIMENTAL, off by default (Kconfig TB_MDNS; needs CONFIG_LWIP_NUM_NETIF_CLIENT_DATA=1): under
 * QEMU the responder re-announced about every 100 ms after the address came, and a unicast query
 * it received got no answer (docs/porting.md "mDNS"). */
#ifndef PORTS_ESP_NET_MDNS_H
#define PORTS_ESP_NET_MDNS_H
#include <stdint.h>
#include "esp_netif.h"
/* Announces the name on nif (any task; the work runs in lwIP's thread). Logs the name, or why not.
 * http_port: the web server's port for the service record (0: none). */
void net_mdns_start(esp_netif_t *nif, uint16_t http_port);
#endif

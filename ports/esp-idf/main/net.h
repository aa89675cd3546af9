/* net: the network interface of the firmware. Ethernet on the OpenCores MAC under QEMU
 * (CONFIG_TB_NET_ETH_OPENETH), with DHCP; a real PHY (RMII or SPI) is added here the same way.
 * Wi-Fi (CONFIG_TB_NET_WIFI): station with the setup access point as fallback (wifi.c). Never
 * fatal: the battery path runs without a network. */
#ifndef PORTS_ESP_NET_H
#define PORTS_ESP_NET_H
#include <stdbool.h>
#include <stddef.h>
#include "app/config.h"
#include "daemon.h"
/* Starts the interface (returns at once; the address comes later). false with err on failure.
 * svc and cfg: for Wi-Fi (the saved network, the setup page's save through the command queue). */
bool net_start(const gw_services_t *svc, const gw_config_t *cfg, char *err, size_t cap);
#endif

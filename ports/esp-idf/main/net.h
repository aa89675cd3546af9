/* net: the network interface of the firmware. Ethernet on the OpenCores MAC under QEMU
 * (CONFIG_TB_NET_ETH_OPENETH), with DHCP; a real PHY (RMII or SPI) is added here the same way.
 * Wi-Fi with an access-point fallback is the issue "ESP32 firmware, complete". Never fatal: the
 * battery path runs without a network. */
#ifndef PORTS_ESP_NET_H
#define PORTS_ESP_NET_H
#include <stdbool.h>
#include <stddef.h>
/* Starts the interface (returns at once; the address comes later). false with err on failure. */
bool net_start(char *err, size_t cap);
#endif

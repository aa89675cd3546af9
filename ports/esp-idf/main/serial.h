/* serial: the TinyBMS UART on ESP-IDF (the twin of ports/linux/serial.c).
 *
 * UART CONFIG_TB_UART_NUM at 115200 8N1, no flow control, on the pins of the Kconfig menu
 * "TinyBMS gateway". The driver's event queue is what the owner task waits on (main.c), so a reply
 * wakes it at once. Errors name the step that failed. */
#ifndef PORTS_ESP_SERIAL_H
#define PORTS_ESP_SERIAL_H
#include <stddef.h>
#include <stdint.h>

#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"

typedef struct {
    int uart;
    QueueHandle_t events;     /* uart_event_t from the driver */
    uint32_t overflows;       /* FIFO or ring buffer overflows (bytes lost; the poller retries) */
    uint32_t framing_errors;  /* frame / parity errors reported by the driver */
} serial_t;

/* 0, or -1 with a message in err. */
int serial_open(serial_t *s, char *err, size_t errlen);
/* Write all n bytes, waiting at most timeout_ms for room in the TX buffer. 0 or -1. */
int serial_write_all(serial_t *s, const uint8_t *buf, size_t n, int timeout_ms);
/* Handle one driver event (taken from s->events without blocking) and read what arrived into buf.
 * Returns bytes read (0 if none). */
int serial_service(serial_t *s, uint8_t *buf, size_t cap);
#endif

#include "serial.h"

#include <stdio.h>

#include "driver/uart.h"
#include "sdkconfig.h"

#define RX_RING 1024
#define TX_RING 512
#define EVENT_DEPTH 16

int serial_open(serial_t *s, char *err, size_t errlen)
{
    s->uart = CONFIG_TB_UART_NUM;
    const uart_config_t uc = {
        .baud_rate = 115200,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    esp_err_t e = uart_driver_install(s->uart, RX_RING, TX_RING, EVENT_DEPTH, &s->events, 0);
    const char *step = "uart_driver_install";
    if (e == ESP_OK) {
        step = "uart_param_config";
        e = uart_param_config(s->uart, &uc);
    }
    if (e == ESP_OK) {
        step = "uart_set_pin";
        e = uart_set_pin(s->uart, CONFIG_TB_UART_TX_GPIO, CONFIG_TB_UART_RX_GPIO, UART_PIN_NO_CHANGE, UART_PIN_NO_CHANGE);
    }
    if (e != ESP_OK) {
        snprintf(err, errlen, "UART%d (TX GPIO %d, RX GPIO %d): %s: %s", s->uart, CONFIG_TB_UART_TX_GPIO,
                 CONFIG_TB_UART_RX_GPIO, step, esp_err_to_name(e));
        return -1;
    }
    return 0;
}

int serial_write_all(serial_t *s, const uint8_t *buf, size_t n, int timeout_ms)
{
    int w = uart_write_bytes(s->uart, buf, n);
    if (w < 0 || (size_t)w != n) {
        return -1;
    }
    return uart_wait_tx_done(s->uart, pdMS_TO_TICKS(timeout_ms)) == ESP_OK ? 0 : -1;
}

int serial_service(serial_t *s, uint8_t *buf, size_t cap)
{
    uart_event_t ev;
    if (xQueueReceive(s->events, &ev, 0) == pdTRUE) {
        switch (ev.type) {
        case UART_FIFO_OVF:
        case UART_BUFFER_FULL:
            /* bytes were lost: the frame in progress is damaged (its CRC fails, the poller retries) */
            s->overflows++;
            uart_flush_input(s->uart);
            return 0;
        case UART_FRAME_ERR:
        case UART_PARITY_ERR:
            s->framing_errors++;
            break;
        default:
            break;
        }
    }
    size_t avail = 0;
    if (uart_get_buffered_data_len(s->uart, &avail) != ESP_OK || avail == 0) {
        return 0;
    }
    if (avail > cap) {
        avail = cap;
    }
    int n = uart_read_bytes(s->uart, buf, (uint32_t)avail, 0);
    return n < 0 ? 0 : n;
}

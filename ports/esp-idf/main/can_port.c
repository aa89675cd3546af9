#include "can_port.h"

#include <stdio.h>
#include <string.h>

#include "core/tb_err.h"
#include "driver/twai.h"
#include "esp_timer.h"
#include "sdkconfig.h"

#define ALERTS                                                                                                   \
    (TWAI_ALERT_BUS_OFF | TWAI_ALERT_BUS_RECOVERED | TWAI_ALERT_ERR_PASS | TWAI_ALERT_ABOVE_ERR_WARN |        \
     TWAI_ALERT_ERR_ACTIVE | TWAI_ALERT_TX_FAILED | TWAI_ALERT_RX_QUEUE_FULL | TWAI_ALERT_BUS_ERROR)

int can_port_open(can_port_t *p, const char *spec, uint32_t now_ms)
{
    (void)now_ms;
    memset(p, 0, sizeof *p);
    p->st.state = CAN_BUS_DOWN;
    if (strcmp(spec, "twai") != 0) {
        snprintf(p->err, sizeof p->err, "%s: the firmware's only CAN port is \"twai\"", spec);
        return TB_ERR_ARG;
    }
    twai_general_config_t g = TWAI_GENERAL_CONFIG_DEFAULT(CONFIG_TB_CAN_TX_GPIO, CONFIG_TB_CAN_RX_GPIO, TWAI_MODE_NORMAL);
    g.tx_queue_len = CAN_PORT_TXQ;
    g.rx_queue_len = 16;
    g.alerts_enabled = ALERTS;
    twai_timing_config_t t = TWAI_TIMING_CONFIG_500KBITS();
    twai_filter_config_t f = TWAI_FILTER_CONFIG_ACCEPT_ALL();
    esp_err_t e = twai_driver_install(&g, &t, &f);
    if (e != ESP_OK) {
        snprintf(p->err, sizeof p->err, "TWAI (TX GPIO %d, RX GPIO %d): twai_driver_install: %s", CONFIG_TB_CAN_TX_GPIO,
                 CONFIG_TB_CAN_RX_GPIO, esp_err_to_name(e));
        return TB_ERR_IO;
    }
    p->installed = true;
    e = twai_start();
    if (e != ESP_OK) {
        snprintf(p->err, sizeof p->err, "TWAI: twai_start: %s", esp_err_to_name(e));
        return TB_ERR_IO;
    }
    p->started = true;
    p->st.state = CAN_BUS_ACTIVE;
    return TB_OK;
}

void can_port_close(can_port_t *p)
{
    if (p->started) {
        (void)twai_stop();
    }
    if (p->installed) {
        (void)twai_driver_uninstall();
    }
    p->installed = p->started = false;
    p->st.state = CAN_BUS_DOWN;
}

int can_port_send_cb(void *ctx, const can_frame_t *f)
{
    can_port_t *p = ctx;
    if (!p->started || p->st.state == CAN_BUS_OFF) {
        p->st.tx_errors++;
        return TB_ERR_IO;
    }
    twai_message_t m;
    memset(&m, 0, sizeof m);
    m.identifier = f->id;
    m.extd = (f->flags & CAN_FLAG_EXT) ? 1u : 0u;
    m.rtr = (f->flags & CAN_FLAG_RTR) ? 1u : 0u;
    m.data_length_code = f->dlc;
    memcpy(m.data, f->data, f->dlc <= 8u ? f->dlc : 8u);
    esp_err_t e = twai_transmit(&m, 0);
    if (e == ESP_OK) {
        p->st.tx_frames++;
        if (f->id == 0x351u && p->first_351_ms == 0u) {
            p->first_351_ms = (uint32_t)(esp_timer_get_time() / 1000);
        }
        return 0;
    }
    if (e == ESP_ERR_TIMEOUT || e == ESP_FAIL) { /* TX queue full */
        p->st.tx_dropped++;
        snprintf(p->err, sizeof p->err, "TWAI transmit queue full (%u frames): frame 0x%03lX dropped", CAN_PORT_TXQ,
                 (unsigned long)f->id);
        return TB_ERR_NOSPACE;
    }
    p->st.tx_errors++;
    snprintf(p->err, sizeof p->err, "TWAI transmit: %s", esp_err_to_name(e));
    return TB_ERR_IO;
}

int can_port_recv(can_port_t *p, can_frame_t *f)
{
    if (!p->started) {
        return 0;
    }
    twai_message_t m;
    if (twai_receive(&m, 0) != ESP_OK) {
        return 0;
    }
    memset(f, 0, sizeof *f);
    f->id = m.identifier;
    f->flags = (uint8_t)((m.extd ? CAN_FLAG_EXT : 0u) | (m.rtr ? CAN_FLAG_RTR : 0u));
    f->dlc = (uint8_t)(m.data_length_code > 8u ? 8u : m.data_length_code);
    memcpy(f->data, m.data, f->dlc);
    p->st.rx_frames++;
    return 1;
}

void can_port_service(can_port_t *p, uint32_t now_ms)
{
    (void)now_ms;
    if (!p->installed) {
        return;
    }
    uint32_t a = 0;
    if (twai_read_alerts(&a, 0) != ESP_OK || a == 0) {
        return;
    }
    if (a & TWAI_ALERT_BUS_OFF) {
        p->st.bus_off++;
        p->st.state = CAN_BUS_OFF;
        snprintf(p->err, sizeof p->err, "TWAI bus-off (wiring, termination or bit rate?): recovering");
        (void)twai_initiate_recovery(); /* 128 x 11 recessive bits, then BUS_RECOVERED */
    }
    if (a & TWAI_ALERT_BUS_RECOVERED) {
        p->st.restarts++;
        if (twai_start() == ESP_OK) {
            p->st.state = CAN_BUS_ACTIVE;
            p->err[0] = '\0';
        }
    }
    if (a & TWAI_ALERT_ERR_PASS) {
        p->st.error_passive++;
        p->st.state = CAN_BUS_PASSIVE;
    }
    if (a & TWAI_ALERT_ABOVE_ERR_WARN) {
        p->st.error_warning++;
        if (p->st.state == CAN_BUS_ACTIVE) {
            p->st.state = CAN_BUS_WARNING;
        }
    }
    if ((a & TWAI_ALERT_ERR_ACTIVE) && p->st.state != CAN_BUS_OFF) {
        p->st.state = CAN_BUS_ACTIVE;
    }
    if (a & TWAI_ALERT_TX_FAILED) {
        p->st.tx_errors++;
    }
    if (a & TWAI_ALERT_RX_QUEUE_FULL) {
        p->st.rx_errors++;
    }
}

bool can_port_is_open(const can_port_t *p) { return p->started && p->st.state != CAN_BUS_OFF; }
const char *can_port_error(const can_port_t *p) { return p->err; }
const can_port_stats_t *can_port_stats(const can_port_t *p) { return &p->st; }

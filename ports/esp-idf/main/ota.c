#include "ota.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "clock.h"
#include "core/tb_err.h"
#include "esp_app_desc.h"
#include "esp_ota_ops.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "nvs.h"
#include "sdkconfig.h"

#define NVS_NS "tinybms"
#define NVS_KEY_LAST "ota-last"   /* "version\ndetail" of the last successful upload */

static struct {
    SemaphoreHandle_t mu;
    StaticSemaphore_t mu_buf;
    bool pending;                /* running image on probation */
    uint32_t deadline_ms;
    bool busy;                   /* an upload is being written */
    bool installed;              /* one was installed: the restart into it is on its way */
    esp_ota_handle_t h;
    const esp_partition_t *slot; /* where the upload goes */
    char last_result[24], last_version[33], last_detail[160];
    char rb_part[17], rb_version[33];
} O;

static void lock(void) { xSemaphoreTake(O.mu, portMAX_DELAY); }
static void unlock(void) { xSemaphoreGive(O.mu); }

const char *ota_version(void) { return esp_app_get_description()->version; }

size_t ota_slot_bytes(void)
{
    const esp_partition_t *next = esp_ota_get_next_update_partition(NULL);
    return next ? next->size : 0u;
}

static const char *state_name(esp_ota_img_states_t s)
{
    switch (s) {
    case ESP_OTA_IMG_NEW: return "new";
    case ESP_OTA_IMG_PENDING_VERIFY: return "pending_verify";
    case ESP_OTA_IMG_VALID: return "valid";
    case ESP_OTA_IMG_INVALID: return "invalid";
    case ESP_OTA_IMG_ABORTED: return "aborted";
    default: return "undefined"; /* flashed by cable: no state in otadata */
    }
}

void ota_boot(uint32_t now_ms)
{
    O.mu = xSemaphoreCreateMutexStatic(&O.mu_buf);
    const esp_partition_t *run = esp_ota_get_running_partition();
    esp_ota_img_states_t st = ESP_OTA_IMG_UNDEFINED;
    if (run && esp_ota_get_state_partition(run, &st) == ESP_OK && st == ESP_OTA_IMG_PENDING_VERIFY) {
        O.pending = true;
        O.deadline_ms = now_ms + (uint32_t)CONFIG_TB_OTA_VERIFY_S * 1000u;
        LOGW("ota", "image %s in %s is on probation: it stays once it has read the BMS, computed the limits and sent "
                    "them on CAN; otherwise the previous image starts again in %d s",
             ota_version(), run->label, CONFIG_TB_OTA_VERIFY_S);
    }
    const esp_partition_t *bad = esp_ota_get_last_invalid_partition();
    if (bad) {
        esp_app_desc_t d;
        snprintf(O.rb_part, sizeof O.rb_part, "%s", bad->label);
        if (esp_ota_get_partition_description(bad, &d) == ESP_OK) {
            snprintf(O.rb_version, sizeof O.rb_version, "%s", d.version);
        }
        LOGE("ota", "the image %s in %s was rolled back (it did not prove the battery path, or it crashed): running %s "
                    "from %s",
             O.rb_version[0] ? O.rb_version : "?", O.rb_part, ota_version(), run ? run->label : "?");
    }
    nvs_handle_t nh;
    if (nvs_open(NVS_NS, NVS_READONLY, &nh) == ESP_OK) {
        char buf[200];
        size_t n = sizeof buf;
        if (nvs_get_str(nh, NVS_KEY_LAST, buf, &n) == ESP_OK) {
            char *nl = strchr(buf, '\n');
            if (nl) {
                *nl = '\0';
                snprintf(O.last_detail, sizeof O.last_detail, "%.159s", nl + 1);
            }
            snprintf(O.last_result, sizeof O.last_result, "ok");
            snprintf(O.last_version, sizeof O.last_version, "%.32s", buf);
        }
        nvs_close(nh);
    }
}

bool ota_probation(uint32_t now_ms, bool battery_path_ok)
{
    if (!O.pending) {
        return false;
    }
    if (battery_path_ok) {
        esp_err_t e = esp_ota_mark_app_valid_cancel_rollback();
        lock();
        O.pending = false;
        unlock();
        if (e == ESP_OK) {
            LOGI("ota", "image %s marked valid: the BMS was read, the limits computed and sent on CAN", ota_version());
        } else {
            LOGE("ota", "image %s could not be marked valid (%s): the next restart rolls it back", ota_version(),
                 esp_err_to_name(e));
        }
        return false;
    }
    if ((int32_t)(now_ms - O.deadline_ms) >= 0) {
        LOGE("ota", "image %s did not run the battery path within %d s: rolling back to the previous image",
             ota_version(), CONFIG_TB_OTA_VERIFY_S);
        return true;
    }
    return false;
}

void ota_roll_back(void)
{
    esp_err_t e = esp_ota_mark_app_invalid_rollback_and_reboot();
    /* only returns on a failure: a restart while pending makes the bootloader roll back as well */
    LOGE("ota", "rollback: %s; restarting", esp_err_to_name(e));
    esp_restart();
}

/* ---- the update slot (api_ota_port_t; the HTTP task) --------------------------------------- */

static void p_state(void *ctx, api_ota_state_t *out)
{
    (void)ctx;
    const esp_app_desc_t *d = esp_app_get_description();
    const esp_partition_t *run = esp_ota_get_running_partition();
    const esp_partition_t *boot = esp_ota_get_boot_partition();
    const esp_partition_t *next = esp_ota_get_next_update_partition(NULL);
    esp_ota_img_states_t st = ESP_OTA_IMG_UNDEFINED;
    out->available = next != NULL;
    out->slot_bytes = next ? (uint32_t)next->size : 0u;
    out->chip_id = (uint16_t)CONFIG_IDF_FIRMWARE_CHIP_ID;
    snprintf(out->project, sizeof out->project, "%s", d->project_name);
    snprintf(out->version, sizeof out->version, "%s", d->version);
    snprintf(out->running, sizeof out->running, "%s", run ? run->label : "");
    snprintf(out->next_boot, sizeof out->next_boot, "%s", boot ? boot->label : "");
    snprintf(out->update_slot, sizeof out->update_slot, "%s", next ? next->label : "");
    if (run) {
        (void)esp_ota_get_state_partition(run, &st);
    }
    snprintf(out->state, sizeof out->state, "%s", state_name(st));
    lock();
    out->verify_left_s = -1;
    if (O.pending) {
        int32_t left = (int32_t)(O.deadline_ms - esp_now_ms());
        out->verify_left_s = left > 0 ? (left + 999) / 1000 : 0;
    }
    snprintf(out->last_result, sizeof out->last_result, "%s", O.last_result);
    snprintf(out->last_version, sizeof out->last_version, "%s", O.last_version);
    snprintf(out->last_detail, sizeof out->last_detail, "%s", O.last_detail);
    snprintf(out->rolled_back_partition, sizeof out->rolled_back_partition, "%s", O.rb_part);
    snprintf(out->rolled_back_version, sizeof out->rolled_back_version, "%s", O.rb_version);
    unlock();
}

static int p_begin(void *ctx, size_t len, char *err, size_t cap)
{
    (void)ctx;
    lock();
    bool busy = O.busy, pending = O.pending, installed = O.installed;
    int32_t left = (int32_t)(O.deadline_ms - esp_now_ms());
    if (!busy && !pending && !installed) {
        O.busy = true;
    }
    unlock();
    if (installed) {
        snprintf(err, cap, "an update was just installed and the gateway restarts into it; try again afterwards");
        return TB_ERR_BUSY;
    }
    if (busy) {
        snprintf(err, cap, "another upload is being written; try again when it has finished");
        return TB_ERR_BUSY;
    }
    if (pending) {
        snprintf(err, cap, "the running image is still on probation (%" PRId32 " s left): an update is accepted once "
                           "it has marked itself valid",
                 left > 0 ? (left + 999) / 1000 : 0);
        return TB_ERR_BUSY;
    }
    O.slot = esp_ota_get_next_update_partition(NULL);
    esp_err_t e = O.slot ? esp_ota_begin(O.slot, OTA_WITH_SEQUENTIAL_WRITES, &O.h) : ESP_ERR_NOT_FOUND;
    if (e != ESP_OK) {
        snprintf(err, cap, "the update slot could not be prepared: %s", esp_err_to_name(e));
        lock();
        O.busy = false;
        unlock();
        return e == ESP_ERR_OTA_ROLLBACK_INVALID_STATE ? TB_ERR_BUSY : TB_ERR_IO;
    }
    (void)len;
    return TB_OK;
}

static int p_write(void *ctx, const void *p, size_t n, char *err, size_t cap)
{
    (void)ctx;
    esp_err_t e = esp_ota_write(O.h, p, n);
    if (e != ESP_OK) {
        snprintf(err, cap, "%s (flash of %s)", esp_err_to_name(e), O.slot->label);
        return TB_ERR_IO;
    }
    return TB_OK;
}

static void done(void)
{
    lock();
    O.busy = false;
    unlock();
}

static int p_finish(void *ctx, char *err, size_t cap)
{
    (void)ctx;
    esp_err_t e = esp_ota_end(O.h);
    if (e != ESP_OK) {
        done();
        snprintf(err, cap,
                 e == ESP_ERR_OTA_VALIDATE_FAILED
                     ? "the written image failed its verification (segments, checksum or SHA-256): damaged or "
                       "incomplete; the running image stays"
                     : "the image could not be completed: %s",
                 esp_err_to_name(e));
        return e == ESP_ERR_OTA_VALIDATE_FAILED ? TB_ERR_CRC : TB_ERR_IO;
    }
    e = esp_ota_set_boot_partition(O.slot);
    lock();
    O.installed = e == ESP_OK; /* the slot now holds the next boot: no second upload over it */
    unlock();
    done();
    if (e != ESP_OK) {
        snprintf(err, cap, "the new image could not be selected for the next boot: %s", esp_err_to_name(e));
        return e == ESP_ERR_OTA_VALIDATE_FAILED ? TB_ERR_CRC : TB_ERR_IO;
    }
    return TB_OK;
}

static void p_abort(void *ctx)
{
    (void)ctx;
    (void)esp_ota_abort(O.h);
    done();
}

static void p_record(void *ctx, api_ota_result_t r, const char *version, const char *detail)
{
    (void)ctx;
    lock();
    snprintf(O.last_result, sizeof O.last_result, "%s", api_ota_result_name(r));
    snprintf(O.last_version, sizeof O.last_version, "%s", version ? version : "");
    if (r == API_OTA_OK) {
        snprintf(O.last_detail, sizeof O.last_detail, "installed over %s", ota_version());
    } else {
        snprintf(O.last_detail, sizeof O.last_detail, "%s", detail ? detail : "");
    }
    char buf[200];
    snprintf(buf, sizeof buf, "%s\n%s", O.last_version, O.last_detail);
    unlock();
    nvs_handle_t nh;
    if (r == API_OTA_OK && nvs_open(NVS_NS, NVS_READWRITE, &nh) == ESP_OK) {
        if (nvs_set_str(nh, NVS_KEY_LAST, buf) != ESP_OK || nvs_commit(nh) != ESP_OK) {
            LOGW("ota", "the upload's outcome could not be saved (NVS)");
        }
        nvs_close(nh);
    }
}

static const api_ota_port_t k_port = {p_state, p_begin, p_write, p_finish, p_abort, p_record, NULL};

const api_ota_port_t *ota_port(void) { return &k_port; }

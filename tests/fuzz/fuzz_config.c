/* libFuzzer harness for the configuration parser (app/config:
 * gw_config_apply_json), fed with arbitrary text as it could come from a
 * configuration file, a SIGHUP reload or an API body.
 *
 * The first input byte selects the flags (read-only keys allowed or not, empty
 * secrets kept) and the starting configuration (the defaults, or a changed but
 * valid one); the rest is the text.
 *
 * Invariants checked (abort on violation; NDEBUG-proof), design.md invariant 8:
 *   - TB_OK: the result passes gw_config_check(); it renders to JSON
 * (gw_config_to_json with secrets), and that text applied onto the defaults
 * with read-only keys allowed gives back exactly the same values (every schema
 * field compared, so nothing the parser accepted is lost or altered by a save
 * and a reload);
 *   - an error: the return code is negative, the message is non-empty and
 * NUL-terminated (the same message twice), and the caller's pattern - apply
 * onto a copy, keep it only on TB_OK - leaves the running configuration
 * untouched (compared field by field);
 *   - without GW_CFG_ALLOW_READONLY a read-only key never changes;
 *   - the same input gives the same verdict and the same result twice (no
 * hidden state).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"
#include "core/tb_err.h"

#define CHECK(c)                                                                                                       \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Compare every schema field of two configurations (struct padding is
 * indeterminate, so no memcmp of the whole struct). Floats compare bitwise. */
static bool same(const gw_config_t *a, const gw_config_t *b, bool readonly_only)
{
    for (size_t i = 0; i < gw_config_section_count; i++) {
        const cfg_section_t *s = gw_config_sections[i].sec;
        const uint8_t *oa = (const uint8_t *)a + gw_config_sections[i].offset;
        const uint8_t *ob = (const uint8_t *)b + gw_config_sections[i].offset;
        for (size_t k = 0; k < s->count; k++) {
            const cfg_param_t *p = &s->params[k];
            if (readonly_only && !(p->flags & CFG_F_READONLY)) {
                continue;
            }
            if (p->type == CFG_STRING) {
                if (strncmp((const char *)oa + p->offset, (const char *)ob + p->offset, cfg_param_size(p)) != 0) {
                    return false;
                }
            } else if (memcmp(oa + p->offset, ob + p->offset, cfg_param_size(p)) != 0) {
                return false;
            }
        }
    }
    return true;
}

static void msg_ok(const cfg_diag_t *d)
{
    CHECK(memchr(d->message, '\0', sizeof d->message) != NULL);
    CHECK(d->message[0] != '\0');
    CHECK(memchr(d->key, '\0', sizeof d->key) != NULL);
}

static char g_out[256 * 1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    unsigned flags = 0;
    if (sel & 1u) {
        flags |= GW_CFG_ALLOW_READONLY;
    }
    if (sel & 2u) {
        flags |= GW_CFG_SECRETS_KEEP_EMPTY;
    }

    static gw_config_t orig, pristine, work, again, back;
    gw_config_defaults(&orig);
    if (sel & 4u) {
        /* a changed, valid starting point (as at run time, after a file was loaded)
         */
        static const char start[] = "{\"link\":{\"live_period_ms\":200},\"charge\":{\"ccl_max_a\":80},"
                                    "\"can\":{\"battery_name\":\"Shed "
                                    "pack\"},\"gateway\":{\"device_id\":\"gw1\"}}";
        cfg_diag_t d0;
        CHECK(gw_config_apply_json(&orig, start, sizeof start - 1u, GW_CFG_ALLOW_READONLY, &d0) == TB_OK);
    }
    pristine = orig;
    cfg_diag_t d;
    memset(&d, 0x5A, sizeof d);
    work = orig;
    int rc = gw_config_apply_json(&work, text, len, flags, &d);

    /* determinism */
    cfg_diag_t d2;
    again = orig;
    int rc2 = gw_config_apply_json(&again, text, len, flags, &d2);
    CHECK(rc == rc2);

    if (rc == TB_OK) {
        CHECK(same(&work, &again, false));
        cfg_diag_t dc;
        CHECK(gw_config_check(&work, &dc) == TB_OK);
        if (!(flags & GW_CFG_ALLOW_READONLY)) {
            CHECK(same(&work, &orig, true));
        }
        /* save and reload: what was accepted survives the round trip unchanged */
        int n = gw_config_to_json(&work, g_out, sizeof g_out, GW_CFG_OUT_SECRETS | GW_CFG_OUT_PRETTY);
        CHECK(n > 0 && (size_t)n < sizeof g_out);
        gw_config_defaults(&back);
        cfg_diag_t db;
        CHECK(gw_config_apply_json(&back, g_out, (size_t)n, GW_CFG_ALLOW_READONLY, &db) == TB_OK);
        CHECK(same(&work, &back, false));
        /* and the commented form (--print-default-config style) loads too */
        n = gw_config_to_json(&work, g_out, sizeof g_out, GW_CFG_OUT_SECRETS | GW_CFG_OUT_COMMENTS);
        CHECK(n > 0);
        gw_config_defaults(&back);
        CHECK(gw_config_apply_json(&back, g_out, (size_t)n, GW_CFG_ALLOW_READONLY, &db) == TB_OK);
        CHECK(same(&work, &back, false));
    } else {
        CHECK(rc < 0);
        msg_ok(&d);
        msg_ok(&d2);
        CHECK(strcmp(d.message, d2.message) == 0);
    }
    /* the caller applied onto a copy: the running configuration is what it was,
     * whatever the text */
    CHECK(same(&orig, &pristine, false));
    return 0;
}

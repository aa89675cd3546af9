/* The configuration schema: defaults, lookup and validated setters, on every section the core
 * defines. Add a section here when a core module gains one. */
#include <math.h>
#include <string.h>

#include "core/alarms.h"
#include "core/cfg_schema.h"
#include "core/charge.h"
#include "core/energy.h"
#include "core/failsafe.h"
#include "core/tb_poll.h"
#include "tests.h"

/* Every section's defaults must validate; every row is well formed. */
static void section_is_sane(const cfg_section_t *sec, void *obj)
{
    tt_context(sec->name);
    memset(obj, 0xA5, sec->struct_size);
    cfg_set_defaults(sec, obj);
    cfg_error_t err = {NULL, NULL};
    TT_EQ(cfg_validate(sec, obj, &err), TB_OK);
    size_t prefix = strlen(sec->name);
    for (size_t i = 0; i < sec->count; i++) {
        const cfg_param_t *p = &sec->params[i];
        tt_context(p->key);
        TT_CHECK(strncmp(p->key, sec->name, prefix) == 0 && p->key[prefix] == '.');
        TT_CHECK((size_t)p->offset + cfg_param_size(p) <= sec->struct_size);
        TT_CHECK(p->min <= p->max || p->type == CFG_STRING);
        TT_CHECK(cfg_find(sec, p->key) == p);
        TT_CHECK(cfg_param_doc(p) != NULL && cfg_param_unit(p) != NULL);
#if defined(TB_CORE_DOCS) && TB_CORE_DOCS == 0
        TT_STREQ(cfg_param_doc(p), ""); /* the build knob really drops the documentation */
        TT_EQ(sizeof *p, 24u);          /* ... and the pointer to it from every row */
#endif
    }
    tt_context(NULL);
}

void t_cfg_schema(void)
{
    /* every section of the core; add new ones here */
    tb_poll_cfg_t link;
    section_is_sane(&tb_poll_cfg_section, &link);
    chg_config_t charge;
    section_is_sane(&chg_section, &charge);
    section_is_sane(&failsafe_section, &charge.failsafe);
    alarms_config_t alarms;
    section_is_sane(&alarms_section, &alarms);
    energy_config_t energy;
    section_is_sane(&energy_section, &energy);

    /* and the modules' own defaults pass their cross-field checks */
    chg_config_defaults(&charge);
    TT_EQ(chg_config_check(&charge, NULL), TB_OK);
    alarms_config_defaults(&alarms);
    TT_EQ(alarms_config_check(&alarms, NULL), TB_OK);

    tb_poll_cfg_defaults(&link);
    TT_EQ(link.live_period_ms, 100);
    TT_EQ(link.reply_timeout_ms, 250);
    TT_EQ(link.max_retries, 2);
    TT_EQ(link.rx_gap_ms, 50);
    TT_CHECK(link.read_device_limits);

    const cfg_param_t *p = cfg_find(&tb_poll_cfg_section, "link.max_retries");
    if (!TT_CHECK(p != NULL)) {
        return;
    }
    cfg_error_t err = {NULL, NULL};
    TT_EQ(cfg_set_number(p, &link, 6.0, &err), TB_ERR_RANGE);
    TT_CHECK(err.param == p && err.reason != NULL);
    TT_EQ(cfg_set_number(p, &link, 1.5, &err), TB_ERR_RANGE);
    TT_EQ(cfg_set_number(p, &link, (double)NAN, &err), TB_ERR_RANGE);
    TT_EQ(cfg_set_number(p, &link, -1.0, &err), TB_ERR_RANGE);
    TT_EQ(link.max_retries, 2); /* refused values change nothing */
    TT_EQ(cfg_set_number(p, &link, 5.0, &err), TB_OK);
    TT_EQ(link.max_retries, 5);
    TT_NEAR(cfg_get_number(p, &link), 5.0, 0.0);
    TT_EQ(cfg_set_bool(p, &link, true, &err), TB_ERR_ARG);
    TT_CHECK(cfg_find(&tb_poll_cfg_section, "link.no_such_key") == NULL);

    const cfg_param_t *b = cfg_find(&tb_poll_cfg_section, "link.read_device_limits");
    if (TT_CHECK(b != NULL)) {
        TT_EQ(cfg_set_bool(b, &link, false, &err), TB_OK);
        TT_CHECK(!cfg_get_bool(b, &link));
    }

    /* a value corrupted behind the schema's back is caught by cfg_validate */
    link.reply_timeout_ms = 1;
    TT_EQ(cfg_validate(&tb_poll_cfg_section, &link, &err), TB_ERR_RANGE);
    TT_CHECK(err.param != NULL && strcmp(err.param->key, "link.reply_timeout_ms") == 0);
}

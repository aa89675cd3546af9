#include "app/gw_cmd.h"

#include <string.h>

#include "core/tb_proto.h"

const char *gw_cmd_name(gw_cmd_type_t t)
{
    switch (t) {
    case GW_CMD_CONFIG_UPDATE: return "config_update";
    case GW_CMD_CONFIG_RELOAD: return "config_reload";
    case GW_CMD_BMS_WRITE: return "bms_write";
    case GW_CMD_BMS_RESET: return "bms_reset";
    case GW_CMD_CAN_SHADOW: return "can_shadow";
    case GW_CMD_RESTART: return "restart";
    case GW_CMD_COUNT: break;
    }
    return "unknown";
}

bool gw_cmd_reset_option(const char *what, uint8_t *option)
{
    static const struct {
        const char *name;
        uint8_t option;
    } k_resets[] = {{"bms", TB_RESET_BMS}, {"events", TB_RESET_CLEAR_EVENTS}, {"stats", TB_RESET_CLEAR_STATS}};
    for (size_t i = 0; what && i < sizeof k_resets / sizeof k_resets[0]; i++) {
        if (strcmp(what, k_resets[i].name) == 0) {
            *option = k_resets[i].option;
            return true;
        }
    }
    return false;
}

#include "app/gw_cmd.h"

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

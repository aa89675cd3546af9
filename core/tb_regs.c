#include "core/tb_regs.h"

#include <math.h>
#include <string.h>

#include "core/tb_docs.h"
#include "core/tb_proto.h"

/* Event ring: 49 slots of two registers (200+2k: timestamp bits 0-15; 201+2k: low byte timestamp
 * bits 16-23, high byte event ID). */
#define EVENT_ROW(k) {(uint16_t)(200 + 2 * (k)), 2, TB_T_EVENT, TB_GRP_EVENTS, 0, TB_U_NONE, 1, 1.0f, 0, 0, "event_slot_" #k}
#define EVENT_DOC(k) {"Event slot " #k, "24-bit timestamp (BMS lifetime s) + event ID; slots are circular, not chronological"}
#define EVENT_ROWS                                                                                            \
    EVENT_ROW(0), EVENT_ROW(1), EVENT_ROW(2), EVENT_ROW(3), EVENT_ROW(4), EVENT_ROW(5), EVENT_ROW(6),         \
        EVENT_ROW(7), EVENT_ROW(8), EVENT_ROW(9), EVENT_ROW(10), EVENT_ROW(11), EVENT_ROW(12), EVENT_ROW(13), \
        EVENT_ROW(14), EVENT_ROW(15), EVENT_ROW(16), EVENT_ROW(17), EVENT_ROW(18), EVENT_ROW(19),             \
        EVENT_ROW(20), EVENT_ROW(21), EVENT_ROW(22), EVENT_ROW(23), EVENT_ROW(24), EVENT_ROW(25),             \
        EVENT_ROW(26), EVENT_ROW(27), EVENT_ROW(28), EVENT_ROW(29), EVENT_ROW(30), EVENT_ROW(31),             \
        EVENT_ROW(32), EVENT_ROW(33), EVENT_ROW(34), EVENT_ROW(35), EVENT_ROW(36), EVENT_ROW(37),             \
        EVENT_ROW(38), EVENT_ROW(39), EVENT_ROW(40), EVENT_ROW(41), EVENT_ROW(42), EVENT_ROW(43),             \
        EVENT_ROW(44), EVENT_ROW(45), EVENT_ROW(46), EVENT_ROW(47), EVENT_ROW(48)
#define EVENT_DOCS                                                                                            \
    EVENT_DOC(0), EVENT_DOC(1), EVENT_DOC(2), EVENT_DOC(3), EVENT_DOC(4), EVENT_DOC(5), EVENT_DOC(6),         \
        EVENT_DOC(7), EVENT_DOC(8), EVENT_DOC(9), EVENT_DOC(10), EVENT_DOC(11), EVENT_DOC(12), EVENT_DOC(13), \
        EVENT_DOC(14), EVENT_DOC(15), EVENT_DOC(16), EVENT_DOC(17), EVENT_DOC(18), EVENT_DOC(19),             \
        EVENT_DOC(20), EVENT_DOC(21), EVENT_DOC(22), EVENT_DOC(23), EVENT_DOC(24), EVENT_DOC(25),             \
        EVENT_DOC(26), EVENT_DOC(27), EVENT_DOC(28), EVENT_DOC(29), EVENT_DOC(30), EVENT_DOC(31),             \
        EVENT_DOC(32), EVENT_DOC(33), EVENT_DOC(34), EVENT_DOC(35), EVENT_DOC(36), EVENT_DOC(37),             \
        EVENT_DOC(38), EVENT_DOC(39), EVENT_DOC(40), EVENT_DOC(41), EVENT_DOC(42), EVENT_DOC(43),             \
        EVENT_DOC(44), EVENT_DOC(45), EVENT_DOC(46), EVENT_DOC(47), EVENT_DOC(48)

/* Sorted by address (tb_reg_find relies on it; a unit test checks). Fields:
 * addr, words, type, group, flags, unit, has_values, scale, min, max, name. Labels and value
 * descriptions are documentation, in k_docs below (dropped when TB_CORE_DOCS is 0). */
const tb_reg_t tb_regs[] = {
    {0, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_1"},
    {1, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_2"},
    {2, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_3"},
    {3, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_4"},
    {4, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_5"},
    {5, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_6"},
    {6, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_7"},
    {7, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_8"},
    {8, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_9"},
    {9, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_10"},
    {10, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_11"},
    {11, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_12"},
    {12, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_13"},
    {13, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_14"},
    {14, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_15"},
    {15, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0.1f, 0, 0, "cell_voltage_slot_16"},
    {32, 2, TB_T_UINT32, TB_GRP_LIVE, 0, TB_U_S, 0, 1.0f, 0, 0, "bms_lifetime_counter"},
    {34, 2, TB_T_UINT32, TB_GRP_LIVE, 0, TB_U_S, 0, 1.0f, 0, 0, "estimated_time_left"},
    {36, 2, TB_T_FLOAT32, TB_GRP_LIVE, 0, TB_U_V, 0, 1.0f, 0, 0, "pack_voltage"},
    {38, 2, TB_T_FLOAT32, TB_GRP_LIVE, 0, TB_U_A, 0, 1.0f, 0, 0, "pack_current"},
    {40, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 1.0f, 0, 0, "min_cell_voltage"},
    {41, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 1.0f, 0, 0, "max_cell_voltage"},
    {42, 1, TB_T_INT16, TB_GRP_LIVE, 0, TB_U_DEGC, 0, 0.1f, 0, 0, "ext_temp_sensor_1"},
    {43, 1, TB_T_INT16, TB_GRP_LIVE, 0, TB_U_DEGC, 0, 0.1f, 0, 0, "ext_temp_sensor_2"},
    {44, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_KM, 0, 1.0f, 0, 0, "distance_left_to_empty"},
    {45, 1, TB_T_UINT16, TB_GRP_LIVE, TB_REGF_RANGE | TB_REGF_REV_D, TB_U_PCT, 0, 0.002f, 0, 50000, "state_of_health"},
    {46, 2, TB_T_UINT32, TB_GRP_LIVE, TB_REGF_RANGE, TB_U_PCT, 0, 0.000001f, 0, 100000000, "state_of_charge"},
    {48, 1, TB_T_INT16, TB_GRP_LIVE, 0, TB_U_DEGC, 0, 0.1f, 0, 0, "bms_internal_temperature"},
    {50, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_NONE, 1, 1.0f, 0, 0, "online_status"},
    {51, 1, TB_T_BITS16, TB_GRP_LIVE, 0, TB_U_NONE, 1, 1.0f, 0, 0, "balancing_decision_bits"},
    {52, 1, TB_T_BITS16, TB_GRP_LIVE, 0, TB_U_NONE, 1, 1.0f, 0, 0, "real_balancing_bits"},
    {53, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_NONE, 0, 1.0f, 0, 0, "number_of_detected_cells"},
    {54, 2, TB_T_FLOAT32, TB_GRP_LIVE, 0, TB_U_KMH, 0, 1.0f, 0, 0, "speed"},
    {100, 2, TB_T_UINT32, TB_GRP_STATS, 0, TB_U_KM, 0, 0.01f, 0, 0, "total_distance"},
    {102, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_A, 0, 0.1f, 0, 0, "max_discharge_current_seen"},
    {103, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_A, 0, 0.1f, 0, 0, "max_charge_current_seen"},
    {104, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_MV, 0, 0.1f, 0, 0, "max_cell_voltage_difference_seen"},
    {105, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "under_voltage_protection_count"},
    {106, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "over_voltage_protection_count"},
    {107, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "discharge_over_current_protection_count"},
    {108, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "charge_over_current_protection_count"},
    {109, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "over_heat_protection_count"},
    {111, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "charging_count"},
    {112, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1.0f, 0, 0, "full_charge_count"},
    {113, 1, TB_T_INT8X2, TB_GRP_STATS, 0, TB_U_DEGC, 1, 1.0f, 0, 0, "min_max_pack_temperature"},
    {114, 1, TB_T_UINT8X2, TB_GRP_STATS, 0, TB_U_NONE, 1, 1.0f, 0, 0, "last_reset_and_wakeup_event"},
    {116, 2, TB_T_UINT32, TB_GRP_STATS, 0, TB_U_S, 0, 1.0f, 0, 0, "statistics_last_cleared_timestamp"},
    EVENT_ROWS,
    {300, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1.0f, 1200, 4500, "fully_charged_voltage"},
    {301, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1.0f, 1000, 3500, "fully_discharged_voltage"},
    {303, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1.0f, 1000, 4500, "early_balancing_threshold"},
    {304, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_DEVICE_LIMITS, TB_U_MA, 0, 1.0f, 100, 5000, "charge_finished_current"},
    {305, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_REV_D, TB_U_A, 0, 1.0f, 0, 0, "peak_discharge_current_cutoff"},
    {306, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_AH, 0, 0.01f, 10, 65500, "battery_capacity"},
    {307, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 0, 1.0f, 4, 16, "number_of_series_cells"},
    {308, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1.0f, 15, 100, "allowed_disbalance"},
    {310, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_S, 0, 1.0f, 5, 60, "charger_startup_delay"},
    {311, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_S, 0, 1.0f, 0, 60, "charger_disable_delay"},
    {312, 2, TB_T_UINT32, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 0, 1.0f, 1, 100000, "pulses_per_unit"},
    {314, 1, TB_T_ENUM16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 1, 5, "distance_unit"},
    {315, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1.0f, 1200, 4500, "over_voltage_cutoff"},
    {316, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1.0f, 800, 3500, "under_voltage_cutoff"},
    {317, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_DEVICE_LIMITS, TB_U_A, 0, 1.0f, 1, 750, "discharge_over_current_cutoff"},
    {318, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_DEVICE_LIMITS, TB_U_A, 0, 1.0f, 1, 750, "charge_over_current_cutoff"},
    {319, 1, TB_T_INT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_DEGC, 0, 1.0f, 20, 90, "over_heat_cutoff"},
    {320, 1, TB_T_INT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_DEGC, 0, 1.0f, -40, 10, "low_temperature_charger_cutoff"},
    {321, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_PCT, 0, 1.0f, 60, 95, "charge_restart_level"},
    {322, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_NONE, 0, 1.0f, 10, 65000, "battery_max_cycles_count"},
    {323, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_READBACK_FFFF | TB_REGF_REV_D, TB_U_PCT, 0, 0.002f, 0, 50000, "state_of_health_setting"},
    {328, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_READBACK_FFFF, TB_U_PCT, 0, 0.002f, 0, 50000, "state_of_charge_setting"},
    {329, 1, TB_T_BITS16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_NONE, 1, 1.0f, 0, 7, "option_bits"},
    {330, 1, TB_T_UINT8X2, TB_GRP_SETTINGS, TB_REGF_WRITABLE, TB_U_NONE, 1, 1.0f, 0, 0, "charger_type_and_doc_timeout"},
    {331, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 8, "load_switch_type"},
    {332, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_S, 1, 1.0f, 0, 30, "automatic_recovery"},
    {333, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 1, 9, "charger_switch_type"},
    {334, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 6, "ignition"},
    {335, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 1, 7, "charger_detection"},
    {336, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 2, "speed_sensor_input"},
    {337, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE, TB_U_NONE, 1, 1.0f, 0, 0, "precharge_pin"},
    {338, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 7, "precharge_duration"},
    {339, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 1, "temperature_sensor_type"},
    {340, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REBOOTS, TB_U_NONE, 1, 1.0f, 0, 1, "bms_operation_mode"},
    {341, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 8, "single_port_switch_type"},
    {342, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 7, "broadcast_time"},
    {343, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1.0f, 0, 2, "broadcast_protocol"},
    {500, 1, TB_T_UINT8X2, TB_GRP_VERSION, 0, TB_U_NONE, 1, 1.0f, 0, 0, "hardware_version"},
    {501, 1, TB_T_UINT8X2, TB_GRP_VERSION, 0, TB_U_NONE, 1, 1.0f, 0, 0, "public_firmware_version_and_flags"},
    {502, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "internal_firmware_version"},
    {503, 1, TB_T_UINT8X2, TB_GRP_VERSION, 0, TB_U_NONE, 1, 1.0f, 0, 0, "bootloader_and_profile_version"},
    {504, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "serial_number_word_0"},
    {505, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "serial_number_word_1"},
    {506, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "serial_number_word_2"},
    {507, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "serial_number_word_3"},
    {508, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "serial_number_word_4"},
    {509, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1.0f, 0, 0, "serial_number_word_5"},
};

const size_t tb_regs_count = sizeof tb_regs / sizeof tb_regs[0];

#if TB_CORE_DOCS
/* Label and value description of each row, in table order (TB_CORE_DOCS=0 drops them). */
typedef struct {
    const char *label;
    const char *values;
} reg_doc_t;

static const reg_doc_t k_docs[] = {
    {"Cell voltage slot 1", NULL},
    {"Cell voltage slot 2", NULL},
    {"Cell voltage slot 3", NULL},
    {"Cell voltage slot 4", NULL},
    {"Cell voltage slot 5", NULL},
    {"Cell voltage slot 6", NULL},
    {"Cell voltage slot 7", NULL},
    {"Cell voltage slot 8", NULL},
    {"Cell voltage slot 9", NULL},
    {"Cell voltage slot 10", NULL},
    {"Cell voltage slot 11", NULL},
    {"Cell voltage slot 12", NULL},
    {"Cell voltage slot 13", NULL},
    {"Cell voltage slot 14", NULL},
    {"Cell voltage slot 15", NULL},
    {"Cell voltage slot 16", NULL},
    {"BMS lifetime counter", NULL},
    {"Estimated time left", NULL},
    {"Pack voltage", NULL},
    {"Pack current", NULL},
    {"Min cell voltage", NULL},
    {"Max cell voltage", NULL},
    {"External temperature sensor 1", NULL},
    {"External temperature sensor 2", NULL},
    {"Distance left to empty", NULL},
    {"State of health", NULL},
    {"State of charge", NULL},
    {"BMS internal temperature", NULL},
    {"Online status", "0x91 charging, 0x92 fully charged, 0x93 discharging, 0x96 regeneration, 0x97 idle, 0x9B fault; also cmd 0x18"},
    {"Balancing decision bits", "bit0 = first cell; 1 = cell needs balancing"},
    {"Real balancing bits", "bit0 = first cell; 1 = cell is balancing now"},
    {"Number of detected cells", NULL},
    {"Speed", NULL},
    {"Total distance", NULL},
    {"Max discharge current seen", NULL},
    {"Max charge current seen", NULL},
    {"Max cell voltage difference seen", NULL},
    {"Under-voltage protection count", NULL},
    {"Over-voltage protection count", NULL},
    {"Discharge over-current protection count", NULL},
    {"Charge over-current protection count", NULL},
    {"Over-heat protection count", NULL},
    {"Charging count", NULL},
    {"Full charge count", NULL},
    {"Min/max pack temperature", "low byte = min pack temperature (INT8), high byte = max pack temperature (INT8)"},
    {"Last reset and wakeup event", "low byte = last reset cause: 0 unknown,1 low-power reset,2 window watchdog,3 independent watchdog,4 software reset,5 POR/PDR,6 pin reset,7 option-bytes load; high byte = last wake-up source: 0 charger connected,1 ignition,2 discharging detected,3 UART communication"},
    {"Statistics last cleared timestamp", NULL},
    EVENT_DOCS,
    {"Fully charged voltage", NULL},
    {"Fully discharged voltage", NULL},
    {"Early balancing threshold", NULL},
    {"Charge finished current", NULL},
    {"Peak discharge current cutoff", NULL},
    {"Battery capacity", NULL},
    {"Number of series cells", NULL},
    {"Allowed disbalance", NULL},
    {"Charger startup delay", NULL},
    {"Charger disable delay", NULL},
    {"Pulses per unit", NULL},
    {"Distance unit", "1 meter, 2 kilometer, 3 feet, 4 mile, 5 yard"},
    {"Over-voltage cutoff", NULL},
    {"Under-voltage cutoff", NULL},
    {"Discharge over-current cutoff", NULL},
    {"Charge over-current cutoff", NULL},
    {"Over-heat cutoff", NULL},
    {"Low temperature charger cutoff", NULL},
    {"Charge restart level", NULL},
    {"Battery max cycles count", NULL},
    {"State of health setting", NULL},
    {"State of charge setting", NULL},
    {"Option bits", "bit0 invert external current sensor direction; bit1 disable load/charger switch diagnostics; bit2 enable charger restart level; bits3-15 reserved (whole register Reserved in Rev B)"},
    {"Charger type and discharge over-current timeout", "low byte charger type: 0 variable (reserved),1 CC/CV,2 CAN (reserved); high byte discharge over-current cutoff timeout 0-30 s (high byte added Rev D)"},
    {"Load switch type", "0 FET,1 AIDO1,2 AIDO2,3 DIDO1,4 DIDO2,5 AIHO1 act-low,6 AIHO1 act-high,7 AIHO2 act-low,8 AIHO2 act-high; high byte reserved"},
    {"Automatic recovery", "seconds before a recoverable fault clears; 0 = no automatic recovery (user manual; the register map says 1-30)"},
    {"Charger switch type", "1 charge FET,2 AIDO1,3 AIDO2,4 DIDO1,5 DIDO2,6 AIHO1 act-low,7 AIHO1 act-high,8 AIHO2 act-low,9 AIHO2 act-high"},
    {"Ignition", "0 disabled,1 AIDO1,2 AIDO2,3 DIDO1,4 DIDO2,5 AIHO1,6 AIHO2"},
    {"Charger detection", "1 internal,2 AIDO1,3 AIDO2,4 DIDO1,5 DIDO2,6 AIHO1,7 AIHO2"},
    {"Speed sensor input", "0 disabled,1 DIDO1,2 DIDO2"},
    {"Precharge pin", "0 disabled,2 discharge FET,3 AIDO1,4 AIDO2,5 DIDO1,6 DIDO2,7 AIHO1 act-low,8 AIHO1 act-high,9 AIHO2 act-low, then \"0x10\" AIHO2 act-high (printed as 0x10; 0x0A suspected)"},
    {"Precharge duration", "0 0.1s,1 0.2s,2 0.5s,3 1s,4 2s,5 3s,6 4s,7 5s"},
    {"Temperature sensor type", "0 dual 10k NTC (B=3977),1 multipoint active sensor"},
    {"BMS operation mode", "0 dual port,1 single port; changing it makes the BMS restart itself"},
    {"Single port switch type", "0 FET,1 AIDO1,2 AIDO2,3 DIDO1,4 DIDO2,5 AIHO1 act-low,6 AIHO1 act-high,7 AIHO2 act-low,8 AIHO2 act-high"},
    {"Broadcast time", "0 disabled,1 0.1s,2 0.2s,3 0.5s,4 1s,5 2s,6 5s,7 10s; non-zero makes the BMS send unsolicited frames on the UART"},
    {"Broadcast protocol", "0 CA V3,1 ASCII,2 SOC BAR"},
    {"Hardware version", "low byte hardware version; high byte hardware-changes version"},
    {"Public firmware version and flags", "low byte public firmware version; bit8 BPT power type (0 low-power 30A,1 high-power 150A); bits9-10 BCS current sensor (0 internal resistor,1 internal HALL,2 external); bits11-15 reserved"},
    {"Internal firmware version", NULL},
    {"Bootloader and profile version", "low byte bootloader version; high byte profile (register-map) version"},
    {"Serial number word 0", NULL},
    {"Serial number word 1", NULL},
    {"Serial number word 2", NULL},
    {"Serial number word 3", NULL},
    {"Serial number word 4", NULL},
    {"Serial number word 5", NULL},
};
_Static_assert(sizeof k_docs / sizeof k_docs[0] == sizeof tb_regs / sizeof tb_regs[0], "one doc per register row");
#endif

static const char *const k_units[TB_U_COUNT] = {"", "mV", "V", "A", "mA", "degC", "%", "s", "Ah", "km", "km/h"};

const char *tb_reg_unit(const tb_reg_t *r)
{
    return r->unit < (uint8_t)TB_U_COUNT ? k_units[r->unit] : "";
}

const char *tb_reg_label(const tb_reg_t *r)
{
#if TB_CORE_DOCS
    return k_docs[r - tb_regs].label;
#else
    (void)r;
    return "";
#endif
}

const char *tb_reg_values(const tb_reg_t *r)
{
    if (!r->has_values) {
        return NULL;
    }
#if TB_CORE_DOCS
    return k_docs[r - tb_regs].values;
#else
    return "";
#endif
}

const tb_reg_t *tb_reg_find(uint16_t addr)
{
    size_t lo = 0, hi = tb_regs_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (tb_regs[mid].addr == addr) {
            return &tb_regs[mid];
        }
        if (tb_regs[mid].addr < addr) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const tb_reg_t *tb_reg_lookup(const char *s)
{
    if (!s || !*s) {
        return NULL;
    }
    bool digits = true;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 0xFFFFul) {
            digits = false;
            break;
        }
        v = v * 10u + (unsigned long)(*p - '0');
    }
    if (digits) {
        return v <= 0xFFFFul ? tb_reg_find((uint16_t)v) : NULL;
    }
    for (size_t i = 0; i < tb_regs_count; i++) {
        if (strcmp(tb_regs[i].name, s) == 0) {
            return &tb_regs[i];
        }
    }
    return NULL;
}

const char *tb_reg_group_name(tb_reg_group_t g)
{
    switch (g) {
    case TB_GRP_LIVE: return "live";
    case TB_GRP_STATS: return "statistics";
    case TB_GRP_EVENTS: return "events";
    case TB_GRP_SETTINGS: return "settings";
    case TB_GRP_VERSION: return "version";
    }
    return "unknown";
}

const char *tb_reg_type_name(tb_reg_type_t t)
{
    switch (t) {
    case TB_T_UINT16: return "UINT16";
    case TB_T_INT16: return "INT16";
    case TB_T_UINT32: return "UINT32";
    case TB_T_FLOAT32: return "FLOAT32";
    case TB_T_BITS16: return "BITS16";
    case TB_T_ENUM16: return "ENUM16";
    case TB_T_ENUM8_LSB: return "ENUM8_LSB";
    case TB_T_UINT8X2: return "UINT8x2";
    case TB_T_INT8X2: return "INT8x2";
    case TB_T_EVENT: return "EVENT";
    }
    return "unknown";
}

unsigned tb_reg_decimals(const tb_reg_t *r)
{
    if (r->type == TB_T_FLOAT32) {
        return 3u;
    }
    unsigned d = 0;
    float s = r->scale;
    while (s < 0.999f && d < 9u) {
        s *= 10.0f;
        d++;
    }
    return d;
}

int64_t tb_reg_raw_int(const tb_reg_t *r, const uint16_t *w)
{
    switch ((tb_reg_type_t)r->type) {
    case TB_T_INT16:
        return (int16_t)w[0];
    case TB_T_UINT32:
    case TB_T_FLOAT32:
        return (int64_t)tb_u32_from_regs(w);
    case TB_T_ENUM8_LSB:
        return w[0] & 0xFFu;
    case TB_T_EVENT:
        return (int64_t)((uint32_t)w[0] | ((uint32_t)(w[1] & 0xFFu) << 16));
    case TB_T_UINT16:
    case TB_T_BITS16:
    case TB_T_ENUM16:
    case TB_T_UINT8X2:
    case TB_T_INT8X2:
        break;
    }
    return w[0];
}

double tb_reg_decode(const tb_reg_t *r, const uint16_t *w)
{
    if (r->type == TB_T_FLOAT32) {
        return (double)tb_float_from_regs(w);
    }
    if (r->type == TB_T_EVENT) {
        return (double)(w[1] >> 8);
    }
    return (double)tb_reg_raw_int(r, w) * (double)r->scale;
}

/* Raw bounds a type can hold. */
static void type_bounds(const tb_reg_t *r, int64_t *lo, int64_t *hi)
{
    switch ((tb_reg_type_t)r->type) {
    case TB_T_INT16:
        *lo = INT16_MIN;
        *hi = INT16_MAX;
        return;
    case TB_T_UINT32:
        *lo = 0;
        *hi = UINT32_MAX;
        return;
    case TB_T_ENUM8_LSB:
        *lo = 0;
        *hi = 0xFF;
        return;
    case TB_T_UINT16:
    case TB_T_BITS16:
    case TB_T_ENUM16:
    case TB_T_UINT8X2:
    case TB_T_INT8X2:
    case TB_T_FLOAT32:
    case TB_T_EVENT:
        break;
    }
    *lo = 0;
    *hi = 0xFFFF;
}

int tb_reg_encode(const tb_reg_t *r, double value, const tb_settings_limits_t *limits, uint16_t *words,
                  const char **why)
{
    if (!(r->flags & TB_REGF_WRITABLE)) {
        return tb_err_why(why, TB_ERR_READONLY, "not writable (read-only register)");
    }
    if (!isfinite(value)) {
        return tb_err_why(why, TB_ERR_RANGE, "not a finite number");
    }
    if (r->type == TB_T_FLOAT32 || r->type == TB_T_EVENT) {
        return tb_err_why(why, TB_ERR_RANGE, "type not writable");
    }
    double rawf = value / (double)r->scale;
    double rounded = floor(rawf + 0.5);
    /* Accept representation noise (3.65 / 0.01) but not a value between two steps. */
    if (fabs(rawf - rounded) > 1e-6 * (fabs(rawf) > 1.0 ? fabs(rawf) : 1.0)) {
        return tb_err_why(why, TB_ERR_RANGE, "not a multiple of the register's resolution");
    }
    int64_t lo, hi;
    type_bounds(r, &lo, &hi);
    if (rounded < (double)lo || rounded > (double)hi) {
        return tb_err_why(why, TB_ERR_RANGE, "outside what the register can hold");
    }
    int64_t raw = (int64_t)rounded;
    if ((r->flags & TB_REGF_RANGE) && (raw < r->min || raw > r->max)) {
        return tb_err_why(why, TB_ERR_RANGE, "outside the documented range");
    }
    if (limits && limits->valid && r->addr >= BMS_SETTINGS_FIRST &&
        r->addr < BMS_SETTINGS_FIRST + BMS_SETTINGS_COUNT && r->words == 1u) {
        unsigned i = (unsigned)(r->addr - BMS_SETTINGS_FIRST);
        int64_t dmin = r->type == TB_T_INT16 ? (int16_t)limits->min[i] : limits->min[i];
        int64_t dmax = r->type == TB_T_INT16 ? (int16_t)limits->max[i] : limits->max[i];
        if (dmin <= dmax && (raw < dmin || raw > dmax)) {
            return tb_err_why(why, TB_ERR_RANGE, "outside the range the BMS reports for this board");
        }
    }
    if (r->words == 2u) {
        tb_regs_from_u32((uint32_t)raw, words);
    } else {
        words[0] = (uint16_t)(raw & 0xFFFF);
    }
    if (why) {
        *why = "ok";
    }
    return TB_OK;
}

static unsigned sidx(unsigned addr)
{
    return addr - BMS_SETTINGS_FIRST;
}

int tb_settings_check(const uint16_t *raw, const char **why)
{
    const char *reason = NULL;
    unsigned uv = raw[sidx(316)], empty = raw[sidx(301)], full = raw[sidx(300)], ov = raw[sidx(315)];
    unsigned early = raw[sidx(303)], cells = raw[sidx(307)];
    unsigned doc = raw[sidx(317)], peak = raw[sidx(305)];
    unsigned chg_type = raw[sidx(330)] & 0xFFu, doc_timeout = raw[sidx(330)] >> 8;
    if (uv + 10u > empty) {
        reason = "under_voltage_cutoff must be at least 10 mV below fully_discharged_voltage";
    } else if (empty + 10u > full) {
        reason = "fully_discharged_voltage must be at least 10 mV below fully_charged_voltage";
    } else if (full + 10u > ov) {
        reason = "fully_charged_voltage must be at least 10 mV below over_voltage_cutoff";
    } else if (early < empty || early > ov) {
        reason = "early_balancing_threshold must lie between fully_discharged_voltage and over_voltage_cutoff";
    } else if (cells < BMS_MIN_CELLS || cells > BMS_MAX_CELLS) {
        reason = "number_of_series_cells must be 4..16";
    } else if (peak != 0u && peak <= doc) {
        reason = "peak_discharge_current_cutoff must be higher than discharge_over_current_cutoff";
    } else if (chg_type > 2u || doc_timeout > 30u) {
        reason = "charger_type_and_doc_timeout: low byte (charger type) must be 0..2, high byte (timeout) 0..30 s";
    }
    if (why) {
        *why = reason ? reason : "ok";
    }
    return reason ? TB_ERR_RANGE : TB_OK;
}

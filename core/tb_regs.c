#include "core/tb_regs.h"
#include "core/tb_bits.h"

#include <math.h>
#include <string.h>

#include "core/tb_docs.h"
#include "core/tb_proto.h"

/* The register map, one REG() per row, sorted by address (tb_reg_find relies on it; a unit test
 * checks):
 *   REG(addr, words, type, group, flags, unit, has_values, scale, range, name, label, values)
 * scale names an entry of TB_REG_SCALES, range one of TB_REG_RANGES (raw min_max, NONE = 0, 0).
 * The list is expanded several times: into the name pool, the rows, and (TB_CORE_DOCS) the label
 * and value description of each row. */
#define TB_REG_TABLE(REG) \
    REG(0, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_1, "Cell voltage slot 1", NULL) \
    REG(1, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_2, "Cell voltage slot 2", NULL) \
    REG(2, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_3, "Cell voltage slot 3", NULL) \
    REG(3, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_4, "Cell voltage slot 4", NULL) \
    REG(4, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_5, "Cell voltage slot 5", NULL) \
    REG(5, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_6, "Cell voltage slot 6", NULL) \
    REG(6, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_7, "Cell voltage slot 7", NULL) \
    REG(7, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_8, "Cell voltage slot 8", NULL) \
    REG(8, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_9, "Cell voltage slot 9", NULL) \
    REG(9, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_10, "Cell voltage slot 10", NULL) \
    REG(10, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_11, "Cell voltage slot 11", NULL) \
    REG(11, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_12, "Cell voltage slot 12", NULL) \
    REG(12, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_13, "Cell voltage slot 13", NULL) \
    REG(13, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_14, "Cell voltage slot 14", NULL) \
    REG(14, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_15, "Cell voltage slot 15", NULL) \
    REG(15, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 0_1, NONE, cell_voltage_slot_16, "Cell voltage slot 16", NULL) \
    REG(32, 2, TB_T_UINT32, TB_GRP_LIVE, 0, TB_U_S, 0, 1, NONE, bms_lifetime_counter, "BMS lifetime counter", NULL) \
    REG(34, 2, TB_T_UINT32, TB_GRP_LIVE, 0, TB_U_S, 0, 1, NONE, estimated_time_left, "Estimated time left", NULL) \
    REG(36, 2, TB_T_FLOAT32, TB_GRP_LIVE, 0, TB_U_V, 0, 1, NONE, pack_voltage, "Pack voltage", NULL) \
    REG(38, 2, TB_T_FLOAT32, TB_GRP_LIVE, 0, TB_U_A, 0, 1, NONE, pack_current, "Pack current", NULL) \
    REG(40, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 1, NONE, min_cell_voltage, "Min cell voltage", NULL) \
    REG(41, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_MV, 0, 1, NONE, max_cell_voltage, "Max cell voltage", NULL) \
    REG(42, 1, TB_T_INT16, TB_GRP_LIVE, 0, TB_U_DEGC, 0, 0_1, NONE, ext_temp_sensor_1, "External temperature sensor 1", NULL) \
    REG(43, 1, TB_T_INT16, TB_GRP_LIVE, 0, TB_U_DEGC, 0, 0_1, NONE, ext_temp_sensor_2, "External temperature sensor 2", NULL) \
    REG(44, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_KM, 0, 1, NONE, distance_left_to_empty, "Distance left to empty", NULL) \
    REG(45, 1, TB_T_UINT16, TB_GRP_LIVE, TB_REGF_RANGE | TB_REGF_REV_D, TB_U_PCT, 0, 0_002, 0_50000, state_of_health, "State of health", NULL) \
    REG(46, 2, TB_T_UINT32, TB_GRP_LIVE, TB_REGF_RANGE, TB_U_PCT, 0, 0_000001, 0_100000000, state_of_charge, "State of charge", NULL) \
    REG(48, 1, TB_T_INT16, TB_GRP_LIVE, 0, TB_U_DEGC, 0, 0_1, NONE, bms_internal_temperature, "BMS internal temperature", NULL) \
    REG(50, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_NONE, 1, 1, NONE, online_status, "Online status", "0x91 charging, 0x92 fully charged, 0x93 discharging, 0x96 regeneration, 0x97 idle, 0x9B fault; also cmd 0x18") \
    REG(51, 1, TB_T_BITS16, TB_GRP_LIVE, 0, TB_U_NONE, 1, 1, NONE, balancing_decision_bits, "Balancing decision bits", "bit0 = first cell; 1 = cell needs balancing") \
    REG(52, 1, TB_T_BITS16, TB_GRP_LIVE, 0, TB_U_NONE, 1, 1, NONE, real_balancing_bits, "Real balancing bits", "bit0 = first cell; 1 = cell is balancing now") \
    REG(53, 1, TB_T_UINT16, TB_GRP_LIVE, 0, TB_U_NONE, 0, 1, NONE, number_of_detected_cells, "Number of detected cells", NULL) \
    REG(54, 2, TB_T_FLOAT32, TB_GRP_LIVE, 0, TB_U_KMH, 0, 1, NONE, speed, "Speed", NULL) \
    REG(100, 2, TB_T_UINT32, TB_GRP_STATS, 0, TB_U_KM, 0, 0_01, NONE, total_distance, "Total distance", NULL) \
    REG(102, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_A, 0, 0_1, NONE, max_discharge_current_seen, "Max discharge current seen", NULL) \
    REG(103, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_A, 0, 0_1, NONE, max_charge_current_seen, "Max charge current seen", NULL) \
    REG(104, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_MV, 0, 0_1, NONE, max_cell_voltage_difference_seen, "Max cell voltage difference seen", NULL) \
    REG(105, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, under_voltage_protection_count, "Under-voltage protection count", NULL) \
    REG(106, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, over_voltage_protection_count, "Over-voltage protection count", NULL) \
    REG(107, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, discharge_over_current_protection_count, "Discharge over-current protection count", NULL) \
    REG(108, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, charge_over_current_protection_count, "Charge over-current protection count", NULL) \
    REG(109, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, over_heat_protection_count, "Over-heat protection count", NULL) \
    REG(111, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, charging_count, "Charging count", NULL) \
    REG(112, 1, TB_T_UINT16, TB_GRP_STATS, 0, TB_U_NONE, 0, 1, NONE, full_charge_count, "Full charge count", NULL) \
    REG(113, 1, TB_T_INT8X2, TB_GRP_STATS, 0, TB_U_DEGC, 1, 1, NONE, min_max_pack_temperature, "Min/max pack temperature", "low byte = min pack temperature (INT8), high byte = max pack temperature (INT8)") \
    REG(114, 1, TB_T_UINT8X2, TB_GRP_STATS, 0, TB_U_NONE, 1, 1, NONE, last_reset_and_wakeup_event, "Last reset and wakeup event", "low byte = last reset cause: 0 unknown,1 low-power reset,2 window watchdog,3 independent watchdog,4 software reset,5 POR/PDR,6 pin reset,7 option-bytes load; high byte = last wake-up source: 0 charger connected,1 ignition,2 discharging detected,3 UART communication") \
    REG(116, 2, TB_T_UINT32, TB_GRP_STATS, 0, TB_U_S, 0, 1, NONE, statistics_last_cleared_timestamp, "Statistics last cleared timestamp", NULL) \
    TB_EVENT_ROWS(REG) \
    REG(300, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1, 1200_4500, fully_charged_voltage, "Fully charged voltage", NULL) \
    REG(301, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1, 1000_3500, fully_discharged_voltage, "Fully discharged voltage", NULL) \
    REG(303, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1, 1000_4500, early_balancing_threshold, "Early balancing threshold", NULL) \
    REG(304, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_DEVICE_LIMITS, TB_U_MA, 0, 1, 100_5000, charge_finished_current, "Charge finished current", NULL) \
    REG(305, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_REV_D, TB_U_A, 0, 1, NONE, peak_discharge_current_cutoff, "Peak discharge current cutoff", NULL) \
    REG(306, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_AH, 0, 0_01, 10_65500, battery_capacity, "Battery capacity", NULL) \
    REG(307, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 0, 1, 4_16, number_of_series_cells, "Number of series cells", NULL) \
    REG(308, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1, 15_100, allowed_disbalance, "Allowed disbalance", NULL) \
    REG(310, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_S, 0, 1, 5_60, charger_startup_delay, "Charger startup delay", NULL) \
    REG(311, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_S, 0, 1, 0_60, charger_disable_delay, "Charger disable delay", NULL) \
    REG(312, 2, TB_T_UINT32, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 0, 1, 1_100000, pulses_per_unit, "Pulses per unit", NULL) \
    REG(314, 1, TB_T_ENUM16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 1_5, distance_unit, "Distance unit", "1 meter, 2 kilometer, 3 feet, 4 mile, 5 yard") \
    REG(315, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1, 1200_4500, over_voltage_cutoff, "Over-voltage cutoff", NULL) \
    REG(316, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_MV, 0, 1, 800_3500, under_voltage_cutoff, "Under-voltage cutoff", NULL) \
    REG(317, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_DEVICE_LIMITS, TB_U_A, 0, 1, 1_750, discharge_over_current_cutoff, "Discharge over-current cutoff", NULL) \
    REG(318, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_DEVICE_LIMITS, TB_U_A, 0, 1, 1_750, charge_over_current_cutoff, "Charge over-current cutoff", NULL) \
    REG(319, 1, TB_T_INT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_DEGC, 0, 1, 20_90, over_heat_cutoff, "Over-heat cutoff", NULL) \
    REG(320, 1, TB_T_INT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_DEGC, 0, 1, M40_10, low_temperature_charger_cutoff, "Low temperature charger cutoff", NULL) \
    REG(321, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_PCT, 0, 1, 60_95, charge_restart_level, "Charge restart level", NULL) \
    REG(322, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_NONE, 0, 1, 10_65000, battery_max_cycles_count, "Battery max cycles count", NULL) \
    REG(323, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_READBACK_FFFF | TB_REGF_REV_D, TB_U_PCT, 0, 0_002, 0_50000, state_of_health_setting, "State of health setting", NULL) \
    REG(328, 1, TB_T_UINT16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_READBACK_FFFF, TB_U_PCT, 0, 0_002, 0_50000, state_of_charge_setting, "State of charge setting", NULL) \
    REG(329, 1, TB_T_BITS16, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REV_D, TB_U_NONE, 1, 1, 0_7, option_bits, "Option bits", "bit0 invert external current sensor direction; bit1 disable load/charger switch diagnostics; bit2 enable charger restart level; bits3-15 reserved (whole register Reserved in Rev B)") \
    REG(330, 1, TB_T_UINT8X2, TB_GRP_SETTINGS, TB_REGF_WRITABLE, TB_U_NONE, 1, 1, NONE, charger_type_and_doc_timeout, "Charger type and discharge over-current timeout", "low byte charger type: 0 variable (reserved),1 CC/CV,2 CAN (reserved); high byte discharge over-current cutoff timeout 0-30 s (high byte added Rev D)") \
    REG(331, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_8, load_switch_type, "Load switch type", "0 FET,1 AIDO1,2 AIDO2,3 DIDO1,4 DIDO2,5 AIHO1 act-low,6 AIHO1 act-high,7 AIHO2 act-low,8 AIHO2 act-high; high byte reserved") \
    REG(332, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_S, 1, 1, 0_30, automatic_recovery, "Automatic recovery", "seconds before a recoverable fault clears; 0 = no automatic recovery (user manual; the register map says 1-30)") \
    REG(333, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 1_9, charger_switch_type, "Charger switch type", "1 charge FET,2 AIDO1,3 AIDO2,4 DIDO1,5 DIDO2,6 AIHO1 act-low,7 AIHO1 act-high,8 AIHO2 act-low,9 AIHO2 act-high") \
    REG(334, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_6, ignition, "Ignition", "0 disabled,1 AIDO1,2 AIDO2,3 DIDO1,4 DIDO2,5 AIHO1,6 AIHO2") \
    REG(335, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 1_7, charger_detection, "Charger detection", "1 internal,2 AIDO1,3 AIDO2,4 DIDO1,5 DIDO2,6 AIHO1,7 AIHO2") \
    REG(336, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_2, speed_sensor_input, "Speed sensor input", "0 disabled,1 DIDO1,2 DIDO2") \
    REG(337, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE, TB_U_NONE, 1, 1, NONE, precharge_pin, "Precharge pin", "0 disabled,2 discharge FET,3 AIDO1,4 AIDO2,5 DIDO1,6 DIDO2,7 AIHO1 act-low,8 AIHO1 act-high,9 AIHO2 act-low, then \"0x10\" AIHO2 act-high (printed as 0x10; 0x0A suspected)") \
    REG(338, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_7, precharge_duration, "Precharge duration", "0 0.1s,1 0.2s,2 0.5s,3 1s,4 2s,5 3s,6 4s,7 5s") \
    REG(339, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_1, temperature_sensor_type, "Temperature sensor type", "0 dual 10k NTC (B=3977),1 multipoint active sensor") \
    REG(340, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE | TB_REGF_REBOOTS, TB_U_NONE, 1, 1, 0_1, bms_operation_mode, "BMS operation mode", "0 dual port,1 single port; changing it makes the BMS restart itself") \
    REG(341, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_8, single_port_switch_type, "Single port switch type", "0 FET,1 AIDO1,2 AIDO2,3 DIDO1,4 DIDO2,5 AIHO1 act-low,6 AIHO1 act-high,7 AIHO2 act-low,8 AIHO2 act-high") \
    REG(342, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_7, broadcast_time, "Broadcast time", "0 disabled,1 0.1s,2 0.2s,3 0.5s,4 1s,5 2s,6 5s,7 10s; non-zero makes the BMS send unsolicited frames on the UART") \
    REG(343, 1, TB_T_ENUM8_LSB, TB_GRP_SETTINGS, TB_REGF_WRITABLE | TB_REGF_RANGE, TB_U_NONE, 1, 1, 0_2, broadcast_protocol, "Broadcast protocol", "0 CA V3,1 ASCII,2 SOC BAR") \
    REG(500, 1, TB_T_UINT8X2, TB_GRP_VERSION, 0, TB_U_NONE, 1, 1, NONE, hardware_version, "Hardware version", "low byte hardware version; high byte hardware-changes version") \
    REG(501, 1, TB_T_UINT8X2, TB_GRP_VERSION, 0, TB_U_NONE, 1, 1, NONE, public_firmware_version_and_flags, "Public firmware version and flags", "low byte public firmware version; bit8 BPT power type (0 low-power 30A,1 high-power 150A); bits9-10 BCS current sensor (0 internal resistor,1 internal HALL,2 external); bits11-15 reserved") \
    REG(502, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, internal_firmware_version, "Internal firmware version", NULL) \
    REG(503, 1, TB_T_UINT8X2, TB_GRP_VERSION, 0, TB_U_NONE, 1, 1, NONE, bootloader_and_profile_version, "Bootloader and profile version", "low byte bootloader version; high byte profile (register-map) version") \
    REG(504, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, serial_number_word_0, "Serial number word 0", NULL) \
    REG(505, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, serial_number_word_1, "Serial number word 1", NULL) \
    REG(506, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, serial_number_word_2, "Serial number word 2", NULL) \
    REG(507, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, serial_number_word_3, "Serial number word 3", NULL) \
    REG(508, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, serial_number_word_4, "Serial number word 4", NULL) \
    REG(509, 1, TB_T_UINT16, TB_GRP_VERSION, 0, TB_U_NONE, 0, 1, NONE, serial_number_word_5, "Serial number word 5", NULL)

/* Event ring: 49 slots of two registers (200+2k: timestamp bits 0-15; 201+2k: low byte timestamp
 * bits 16-23, high byte event ID). */
#define TB_EVENT_ROW(REG, k)                                                                                      \
    REG((200 + 2 * (k)), 2, TB_T_EVENT, TB_GRP_EVENTS, 0, TB_U_NONE, 1, 1, NONE, event_slot_##k, "Event slot " #k, \
        "24-bit timestamp (BMS lifetime s) + event ID; slots are circular, not chronological")
#define TB_EVENT_ROWS(REG) \
    TB_EVENT_ROW(REG, 0) TB_EVENT_ROW(REG, 1) TB_EVENT_ROW(REG, 2) TB_EVENT_ROW(REG, 3) \
    TB_EVENT_ROW(REG, 4) TB_EVENT_ROW(REG, 5) TB_EVENT_ROW(REG, 6) TB_EVENT_ROW(REG, 7) \
    TB_EVENT_ROW(REG, 8) TB_EVENT_ROW(REG, 9) TB_EVENT_ROW(REG, 10) TB_EVENT_ROW(REG, 11) \
    TB_EVENT_ROW(REG, 12) TB_EVENT_ROW(REG, 13) TB_EVENT_ROW(REG, 14) TB_EVENT_ROW(REG, 15) \
    TB_EVENT_ROW(REG, 16) TB_EVENT_ROW(REG, 17) TB_EVENT_ROW(REG, 18) TB_EVENT_ROW(REG, 19) \
    TB_EVENT_ROW(REG, 20) TB_EVENT_ROW(REG, 21) TB_EVENT_ROW(REG, 22) TB_EVENT_ROW(REG, 23) \
    TB_EVENT_ROW(REG, 24) TB_EVENT_ROW(REG, 25) TB_EVENT_ROW(REG, 26) TB_EVENT_ROW(REG, 27) \
    TB_EVENT_ROW(REG, 28) TB_EVENT_ROW(REG, 29) TB_EVENT_ROW(REG, 30) TB_EVENT_ROW(REG, 31) \
    TB_EVENT_ROW(REG, 32) TB_EVENT_ROW(REG, 33) TB_EVENT_ROW(REG, 34) TB_EVENT_ROW(REG, 35) \
    TB_EVENT_ROW(REG, 36) TB_EVENT_ROW(REG, 37) TB_EVENT_ROW(REG, 38) TB_EVENT_ROW(REG, 39) \
    TB_EVENT_ROW(REG, 40) TB_EVENT_ROW(REG, 41) TB_EVENT_ROW(REG, 42) TB_EVENT_ROW(REG, 43) \
    TB_EVENT_ROW(REG, 44) TB_EVENT_ROW(REG, 45) TB_EVENT_ROW(REG, 46) TB_EVENT_ROW(REG, 47) \
    TB_EVENT_ROW(REG, 48)

/* value = raw * scale: the few steps the map uses, and the decimals worth printing for each
 * (tb_reg_decimals(); a unit test checks them against the scale). */
#define TB_REG_SCALES(X) X(1, 1.0f, 0) X(0_1, 0.1f, 1) X(0_01, 0.01f, 2) X(0_002, 0.002f, 3) X(0_000001, 0.000001f, 6)

/* Raw (min, max) pairs, shared by the rows with the same documented range. */
#define TB_REG_RANGES(X) \
    X(NONE, 0, 0) \
    X(M40_10, -40, 10) \
    X(0_1, 0, 1) \
    X(0_2, 0, 2) \
    X(0_6, 0, 6) \
    X(0_7, 0, 7) \
    X(0_8, 0, 8) \
    X(0_30, 0, 30) \
    X(0_60, 0, 60) \
    X(0_50000, 0, 50000) \
    X(0_100000000, 0, 100000000) \
    X(1_5, 1, 5) \
    X(1_7, 1, 7) \
    X(1_9, 1, 9) \
    X(1_750, 1, 750) \
    X(1_100000, 1, 100000) \
    X(4_16, 4, 16) \
    X(5_60, 5, 60) \
    X(10_65000, 10, 65000) \
    X(10_65500, 10, 65500) \
    X(15_100, 15, 100) \
    X(20_90, 20, 90) \
    X(60_95, 60, 95) \
    X(100_5000, 100, 5000) \
    X(800_3500, 800, 3500) \
    X(1000_3500, 1000, 3500) \
    X(1000_4500, 1000, 4500) \
    X(1200_4500, 1200, 4500)

#define SCALE_ENUM(id, value, dec) SCALE_##id,
#define SCALE_VALUE(id, value, dec) value,
#define SCALE_DECIMALS(id, value, dec) dec,
#define RANGE_ENUM(id, lo, hi) RANGE_##id,
#define RANGE_MIN(id, lo, hi) lo,
#define RANGE_MAX(id, lo, hi) hi,
enum { TB_REG_SCALES(SCALE_ENUM) SCALE_COUNT };
enum { TB_REG_RANGES(RANGE_ENUM) RANGE_COUNT };
/* The row's bit-fields (core/tb_regs.h) must hold every index. */
_Static_assert(SCALE_COUNT <= 8 && RANGE_COUNT <= 32 && TB_U_COUNT <= 16, "widen the tb_reg_t bit-fields");
static const float k_scales[SCALE_COUNT] = {TB_REG_SCALES(SCALE_VALUE)};
static const uint8_t k_scale_decimals[SCALE_COUNT] = {TB_REG_SCALES(SCALE_DECIMALS)};
static const int32_t k_range_min[RANGE_COUNT] = {TB_REG_RANGES(RANGE_MIN)};
static const int32_t k_range_max[RANGE_COUNT] = {TB_REG_RANGES(RANGE_MAX)};

/* The names as one pool of NUL-terminated strings (a struct of char arrays, so that each row can
 * hold its name's offset, computed by the compiler, instead of a pointer). */
#define NAME_FIELD(addr, words, type, group, flags, unit, hv, scale, range, name, label, values) char name[sizeof #name];
#define NAME_TEXT(addr, words, type, group, flags, unit, hv, scale, range, name, label, values) #name,
struct reg_names {
    TB_REG_TABLE(NAME_FIELD)
};
static const struct reg_names k_names = {TB_REG_TABLE(NAME_TEXT)};
_Static_assert(sizeof k_names <= UINT16_MAX, "name offsets are 16-bit");

#define ROW(a_, w_, t_, g_, f_, u_, hv_, sc_, rg_, name, label, values)                                             \
    {.addr = (a_), .name_ofs = (uint16_t)offsetof(struct reg_names, name), .words = (w_), .type = (t_), .group = (g_), \
     .flags = (f_), .unit = (u_), .has_values = (hv_), .scale_idx = SCALE_##sc_, .range_idx = RANGE_##rg_},
const tb_reg_t tb_regs[] = {TB_REG_TABLE(ROW)};

const size_t tb_regs_count = sizeof tb_regs / sizeof tb_regs[0];

#if TB_CORE_DOCS
/* Label and value description of each row, in table order (TB_CORE_DOCS=0 drops them). */
typedef struct {
    const char *label;
    const char *values;
} reg_doc_t;

#define DOC(addr, words, type, group, flags, unit, hv, scale, range, name, label, values) {label, values},
static const reg_doc_t k_docs[] = {TB_REG_TABLE(DOC)};
#endif

/* The n-th string of a pool of NUL-terminated strings. The unit, group and type names are short
 * lists read for display, so skipping a few strings beats a table of pointers to them. */
static const char *nth(const char *pool, unsigned n)
{
    for (; n > 0u; n--) {
        while (*pool++ != '\0') {
        }
    }
    return pool;
}

/* In tb_unit_t, tb_reg_group_t and tb_reg_type_t order; the last group and type are for values
 * outside the enum. */
static const char k_units[] = "\0mV\0V\0A\0mA\0°C\0%\0s\0Ah\0km\0km/h";
static const char k_groups[] = "live\0statistics\0events\0settings\0version\0unknown";
static const char k_types[] = "UINT16\0INT16\0UINT32\0FLOAT32\0BITS16\0ENUM16\0ENUM8_LSB\0UINT8x2\0INT8x2\0EVENT\0unknown";

const char *tb_reg_unit(const tb_reg_t *r)
{
    return nth(k_units, r->unit < TB_U_COUNT ? r->unit : 0u);
}

const char *tb_reg_name(const tb_reg_t *r)
{
    return (const char *)&k_names + r->name_ofs;
}

float tb_reg_scale(const tb_reg_t *r)
{
    return k_scales[r->scale_idx];
}

int32_t tb_reg_min(const tb_reg_t *r)
{
    return k_range_min[r->range_idx];
}

int32_t tb_reg_max(const tb_reg_t *r)
{
    return k_range_max[r->range_idx];
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
        if (strcmp(tb_reg_name(&tb_regs[i]), s) == 0) {
            return &tb_regs[i];
        }
    }
    return NULL;
}

const char *tb_reg_group_name(tb_reg_group_t g)
{
    return nth(k_groups, (unsigned)g <= TB_GRP_VERSION ? (unsigned)g : TB_GRP_VERSION + 1u);
}

const char *tb_reg_type_name(tb_reg_type_t t)
{
    return nth(k_types, (unsigned)t <= TB_T_EVENT ? (unsigned)t : TB_T_EVENT + 1u);
}

unsigned tb_reg_decimals(const tb_reg_t *r)
{
    return r->type == TB_T_FLOAT32 ? 3u : k_scale_decimals[r->scale_idx];
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
    return (double)tb_reg_raw_int(r, w) * (double)tb_reg_scale(r);
}

/* Raw bounds a type can hold (32-bit: the double conversions below are single libgcc calls). */
static void type_bounds(const tb_reg_t *r, int32_t *lo, uint32_t *hi)
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
    if (!tb_f64_finite(value)) {
        return tb_err_why(why, TB_ERR_RANGE, "not a finite number");
    }
    if (r->type == TB_T_FLOAT32 || r->type == TB_T_EVENT) {
        return tb_err_why(why, TB_ERR_RANGE, "type not writable");
    }
    double rawf = value / (double)tb_reg_scale(r);
    double rounded = floor(rawf + 0.5);
    double mag = fabs(rawf);
    /* Accept representation noise (3.65 / 0.01) but not a value between two steps. */
    if (fabs(rawf - rounded) > 1e-6 * (mag > 1.0 ? mag : 1.0)) {
        return tb_err_why(why, TB_ERR_RANGE, "not a multiple of the register's resolution");
    }
    int32_t lo;
    uint32_t hi;
    type_bounds(r, &lo, &hi);
    if (rounded < (double)lo || rounded > (double)hi) {
        return tb_err_why(why, TB_ERR_RANGE, "outside what the register can hold");
    }
    int64_t raw = (int64_t)rounded;
    if ((r->flags & TB_REGF_RANGE) && (raw < tb_reg_min(r) || raw > tb_reg_max(r))) {
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

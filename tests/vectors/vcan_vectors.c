#include "tests/vectors/vcan_vectors.h"

/* Shorthands for 0x35A level lists (13 categories in alarm_id_t order:
 * general, high V, low V, high T, low T, high T charge, low T charge, high discharge I,
 * high charge I, contactor, short circuit, BMS internal, cell imbalance). */
#define OK ALARM_LEVEL_OK
#define WA ALARM_LEVEL_WARNING
#define AL ALARM_LEVEL_ALARM
#define NS ALARM_LEVEL_UNSUPPORTED
#define NA VCAN_NA
#define FR(ID, ...) {.id = (ID), .dlc = 8, .flags = 0, .data = {__VA_ARGS__}}
#define NOFRAME {.id = 0, .dlc = 0, .flags = 0, .data = {0}}
#define FRN(ID, N, ...) {.id = (ID), .dlc = (N), .flags = 0, .data = {__VA_ARGS__}}

const vcan_decode_vector_t vcan_decode_vectors[] = {
    /* ---- Victron's own candump example (VIC21, an LG battery) ---- */
    {"VIC21 0x351: CVL 58.1 V, CCL 110 A, DCL 110 A", FR(0x351, 0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0x00, 0x00), TB_OK,
     {.id = 0x351, .u.limits = {58.1f, 110.0f, 110.0f, 0.0f}}, true},
    {"VIC21 0x355: SOC 89 %, SOH 100 %", FR(0x355, 0x59, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x355, .u.soc = {89.0f, 100.0f, 0.0f}}, true},
    {"VIC21 0x356: 56.81 V, +20.6 A, 31.8 degC", FR(0x356, 0x31, 0x16, 0xCE, 0x00, 0x3E, 0x01, 0x00, 0x00), TB_OK,
     {.id = 0x356, .u.battery = {56.81f, 20.6f, 31.8f}}, true},
    {"VIC21 0x35A: all zero = everything not supported (old LG)", FR(0x35A, 0, 0, 0, 0, 0, 0, 0, 0), TB_OK,
     {.id = 0x35A, .u.alarms = {.levels = {{NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS}}, .status = VCAN_STATUS_UNSUPPORTED}},
     false},
    {"VIC21 0x35A worked byte 0xA4: general n/s, high-voltage alarm, others OK",
     FR(0x35A, 0xA4, 0xAA, 0xAA, 0xAA, 0xA4, 0xAA, 0xAA, 0xAA), TB_OK,
     {.id = 0x35A, .u.alarms = {.levels = {{NS, AL, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK}}, .status = VCAN_STATUS_ONLINE}},
     true},

    /* ---- BYD LVS talking to Venus 3.00 (dfch/BydCanProtocol) ---- */
    {"BYD 0x351: 58.4 V, 128 A, 128 A, DVL 43.0 V", FR(0x351, 0x48, 0x02, 0x00, 0x05, 0x00, 0x05, 0xAE, 0x01), TB_OK,
     {.id = 0x351, .u.limits = {58.4f, 128.0f, 128.0f, 43.0f}}, true},
    {"BYD 0x355: SOC 67 %, SOH 100 %", FR(0x355, 0x43, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x355, .u.soc = {67.0f, 100.0f, 0.0f}}, true},
    {"BYD 0x356: 53.10 V, -0.7 A, 14.0 degC", FR(0x356, 0xBE, 0x14, 0xF9, 0xFF, 0x8C, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x356, .u.battery = {53.10f, -0.7f, 14.0f}}, true},
    {"BYD 0x35A: AA x 8, every supported item OK", FR(0x35A, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA), TB_OK,
     {.id = 0x35A, .u.alarms = {.levels = {{OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK}}, .status = VCAN_STATUS_ONLINE}},
     true},
    {"BYD 0x35E: \"BYD\"", FR(0x35E, 0x42, 0x59, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x35E, .u.text = {"BYD"}}, true},
    {"BYD 0x35F: type 0x694C, fw 01 17, 105 Ah online", FR(0x35F, 0x4C, 0x69, 0x01, 0x17, 0x69, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x35F, .u.info = {0x694C, 0x01, 0x17, 105.0f, 0}}, true},
    {"BYD 0x372: 2 modules OK, none blocking or offline", FR(0x372, 0x02, 0, 0, 0, 0, 0, 0, 0), TB_OK,
     {.id = 0x372, .u.modules = {2, 0, 0, 0}}, true},
    {"BYD 0x373: 3.306 V / 3.329 V, 287 K / 290 K", FR(0x373, 0xEA, 0x0C, 0x01, 0x0D, 0x1F, 0x01, 0x22, 0x01), TB_OK,
     {.id = 0x373, .u.cells = {3.306f, 3.329f, 14.0f, 17.0f}}, true},
    {"BYD 0x374: module id \"2\"", FR(0x374, 0x32, 0, 0, 0, 0, 0, 0, 0), TB_OK, {.id = 0x374, .u.text = {"2"}}, true},
    {"BYD 0x376: module id \"1\"", FR(0x376, 0x31, 0, 0, 0, 0, 0, 0, 0), TB_OK, {.id = 0x376, .u.text = {"1"}}, true},
    {"BYD 0x378: in 211.2 kWh, out 183.5 kWh", FR(0x378, 0x40, 0x08, 0x00, 0x00, 0x2B, 0x07, 0x00, 0x00), TB_OK,
     {.id = 0x378, .u.energy = {211200.0, 183500.0}}, true},
    {"BYD 0x379: 156 Ah installed", FR(0x379, 0x9C, 0, 0, 0, 0, 0, 0, 0), TB_OK,
     {.id = 0x379, .u.capacity = {156.0f}}, true},
    {"BYD 0x382: family \"PREMIUM\"", FR(0x382, 0x50, 0x52, 0x45, 0x4D, 0x49, 0x55, 0x4D, 0x00), TB_OK,
     {.id = 0x382, .u.text = {"PREMIUM"}}, true},

    /* ---- Pylontech (OpenDTU-OnBattery PR #1213) ---- */
    {"Pylontech 0x351: 53.2 V, 370 A, 370 A, DVL 46.0 V", FR(0x351, 0x14, 0x02, 0x74, 0x0E, 0x74, 0x0E, 0xCC, 0x01), TB_OK,
     {.id = 0x351, .u.limits = {53.2f, 370.0f, 370.0f, 46.0f}}, true},

    /* ---- our own, derived from the spec ---- */
    {"0x35A TinyBMS-like: HV warning, contactor/short n/s, system offline",
     FR(0x35A, 0xA8, 0xAA, 0x82, 0xAA, 0xA4, 0xAA, 0x82, 0xA6), TB_OK,
     {.id = 0x35A, .u.alarms = {.levels = {{NS, WA, OK, OK, OK, OK, OK, OK, OK, NS, NS, OK, OK}}, .status = VCAN_STATUS_OFFLINE}},
     true},
    {"0x35A pair 11 reads as not supported; alarm 00 + warning 01 reads as warning",
     FR(0x35A, 0xFF, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x35A, .u.alarms = {.levels = {{NS, WA, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS}}, .status = VCAN_STATUS_UNSUPPORTED}},
     false},
    {"0x35A short DLC: missing bytes read as not supported", FRN(0x35A, 1, 0x0A), TB_OK,
     {.id = 0x35A, .u.alarms = {.levels = {{OK, OK, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS}}, .status = VCAN_STATUS_UNSUPPORTED}},
     false},
    {"0x356 temperature 0x8000 = not supported", FR(0x356, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00), TB_OK,
     {.id = 0x356, .u.battery = {0.0f, 0.0f, NA}}, true},
    {"0x355 SOH 0xFFFF = not supported, hi-res SOC 50.00 %", FR(0x355, 0x32, 0x00, 0xFF, 0xFF, 0x88, 0x13, 0x00, 0x00), TB_OK,
     {.id = 0x355, .u.soc = {50.0f, NA, 50.0f}}, true},
    {"0x372 contactor-only pack: blocking fields 0xFFFF", FR(0x372, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00), TB_OK,
     {.id = 0x372, .u.modules = {1, VCAN_U16_NA, VCAN_U16_NA, 0}}, true},
    {"0x373 DLC 4: temperatures dropped", FRN(0x373, 4, 0xEA, 0x0C, 0x01, 0x0D), TB_OK,
     {.id = 0x373, .u.cells = {3.306f, 3.329f, NA, NA}}, false},
    {"0x373 temperatures 0x0000 and 0xFFFF = not supported", FR(0x373, 0xEA, 0x0C, 0x01, 0x0D, 0x00, 0x00, 0xFF, 0xFF), TB_OK,
     {.id = 0x373, .u.cells = {3.306f, 3.329f, NA, NA}}, false},
    {"0x351 with a negative CCL on the wire is shown as such", FR(0x351, 0x20, 0x02, 0xF6, 0xFF, 0x00, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x351, .u.limits = {54.4f, -1.0f, 0.0f, 0.0f}}, false},
    {"0x351 DLC 6: DVL missing", FRN(0x351, 6, 0x20, 0x02, 0x64, 0x00, 0x64, 0x00), TB_OK,
     {.id = 0x351, .u.limits = {54.4f, 10.0f, 10.0f, NA}}, false},
    {"0x35E unprintable bytes dropped, text ends at NUL", FR(0x35E, 0x41, 0x01, 0x42, 0x00, 0x43, 0x00, 0x00, 0x00), TB_OK,
     {.id = 0x35E, .u.text = {"AB"}}, false},
    {"0x305 GX keepalive: opaque payload", FR(0x305, 0, 0, 0, 0, 0, 0, 0, 0), TB_OK,
     {.id = 0x305, .u.raw = {8, {0}}}, false},
    {"0x307 GX identification 12 34 56 78 VIC", FR(0x307, 0x12, 0x34, 0x56, 0x78, 0x56, 0x49, 0x43, 0x00), TB_OK,
     {.id = 0x307, .u.gx_id = {true, "VIC"}}, false},
    {"0x307 with a wrong signature", FR(0x307, 0x12, 0x34, 0x56, 0x79, 0x56, 0x49, 0x43, 0x00), TB_OK,
     {.id = 0x307, .u.gx_id = {false, "VIC"}}, false},
    {"0x351 DLC 1: too short", FRN(0x351, 1, 0x45), TB_ERR_FORMAT, {.id = 0}, false},
    {"0x378 DLC 3: too short", FRN(0x378, 3, 1, 2, 3), TB_ERR_FORMAT, {.id = 0}, false},
    {"0x35A DLC 0: empty", FRN(0x35A, 0, 0), TB_ERR_FORMAT, {.id = 0}, false},
    {"0x351 as a 29-bit frame is not the protocol", {.id = 0x351, .dlc = 8, .flags = CAN_FLAG_EXT, .data = {0}}, TB_ERR_FORMAT,
     {.id = 0}, false},
    {"0x351 remote frame", {.id = 0x351, .dlc = 0, .flags = CAN_FLAG_RTR, .data = {0}}, TB_ERR_FORMAT, {.id = 0}, false},
    {"0x359 (Pylontech flags) is not a Victron frame", FR(0x359, 0, 0, 0, 0, 0, 0, 0, 0), TB_ERR_NOTFOUND, {.id = 0}, false},
};
const size_t vcan_decode_vector_count = sizeof vcan_decode_vectors / sizeof vcan_decode_vectors[0];

const vcan_encode_vector_t vcan_encode_vectors[] = {
    /* 0x351: clamping, never-negative currents, rounding half away from zero, refusals */
    {"0x351 above range clamps to 0xFFFF / 0x7FFF", {.id = 0x351, .u.limits = {7000.0f, 5000.0f, 5000.0f, 1e9f}}, 8,
     FR(0x351, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF, 0xFF)},
    {"0x351 negative values clamp to 0 (CCL/DCL never negative)", {.id = 0x351, .u.limits = {-5.0f, -10.0f, -0.04f, -1.0f}}, 8,
     FR(0x351, 0, 0, 0, 0, 0, 0, 0, 0)},
    {"0x351 rounding: 58.15 V -> 582, 2.25 A -> 23, 0.05 A -> 1, 0.04 V -> 0",
     {.id = 0x351, .u.limits = {58.15f, 2.25f, 0.05f, 0.04f}}, 8, FR(0x351, 0x46, 0x02, 0x17, 0x00, 0x01, 0x00, 0x00, 0x00)},
    {"0x351 exactly at the limits", {.id = 0x351, .u.limits = {6553.5f, 3276.7f, 3276.7f, 6553.5f}}, 8,
     FR(0x351, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF, 0xFF)},
    {"0x351 CVL NaN is refused", {.id = 0x351, .u.limits = {NA, 10.0f, 10.0f, 40.0f}}, TB_ERR_RANGE, NOFRAME},
    {"0x351 DCL infinite is refused", {.id = 0x351, .u.limits = {55.0f, 10.0f, (float)INFINITY, 40.0f}}, TB_ERR_RANGE, NOFRAME},
    /* 0x355 */
    {"0x355 SOC/SOH clamp to 100 %, hi-res from SOC", {.id = 0x355, .u.soc = {150.0f, 101.0f, NA}}, 8,
     FR(0x355, 0x64, 0x00, 0x64, 0x00, 0x10, 0x27, 0x00, 0x00)},
    {"0x355 negative SOC -> 0, SOH unknown -> 0xFFFF", {.id = 0x355, .u.soc = {-3.0f, NA, NA}}, 8,
     FR(0x355, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00)},
    {"0x355 rounding: 49.5 -> 50, 99.5 -> 100, 12.5 % -> 1250", {.id = 0x355, .u.soc = {49.5f, 99.5f, 12.5f}}, 8,
     FR(0x355, 0x32, 0x00, 0x64, 0x00, 0xE2, 0x04, 0x00, 0x00)},
    {"0x355 SOC NaN is refused", {.id = 0x355, .u.soc = {NA, 100.0f, NA}}, TB_ERR_RANGE, NOFRAME},
    /* 0x356 */
    {"0x356 above range clamps to 0x7FFF", {.id = 0x356, .u.battery = {400.0f, 4000.0f, 4000.0f}}, 8,
     FR(0x356, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF, 0x7F, 0x00, 0x00)},
    {"0x356 below range: -32768, -32768, temperature stops at -32767",
     {.id = 0x356, .u.battery = {-400.0f, -4000.0f, -4000.0f}}, 8, FR(0x356, 0x00, 0x80, 0x00, 0x80, 0x01, 0x80, 0x00, 0x00)},
    {"0x356 rounding away from zero: -0.125 V -> -13, -2.25 A -> -23, 0.25 degC -> 3",
     {.id = 0x356, .u.battery = {-0.125f, -2.25f, 0.25f}}, 8, FR(0x356, 0xF3, 0xFF, 0xE9, 0xFF, 0x03, 0x00, 0x00, 0x00)},
    {"0x356 temperature unknown -> 0x8000", {.id = 0x356, .u.battery = {53.1f, -0.7f, NA}}, 8,
     FR(0x356, 0xBE, 0x14, 0xF9, 0xFF, 0x00, 0x80, 0x00, 0x00)},
    {"0x356 voltage NaN is refused", {.id = 0x356, .u.battery = {NA, 1.0f, 20.0f}}, TB_ERR_RANGE, NOFRAME},
    {"0x356 current NaN is refused", {.id = 0x356, .u.battery = {53.0f, NA, 20.0f}}, TB_ERR_RANGE, NOFRAME},
    /* 0x35A */
    {"0x35A everything unsupported: pairs 00, reserved pairs 10", {.id = 0x35A, .u.alarms = {.levels = {{NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS, NS}}, .status = VCAN_STATUS_UNSUPPORTED}},
     8, FR(0x35A, 0x00, 0x00, 0x00, 0xA8, 0x00, 0x00, 0x00, 0xA0)},
    {"0x35A every alarm active: alarm and warning pairs 01, system online", {.id = 0x35A, .u.alarms = {.levels = {{AL, AL, AL, AL, AL, AL, AL, AL, AL, AL, AL, AL, AL}}, .status = VCAN_STATUS_ONLINE}},
     8, FR(0x35A, 0x55, 0x55, 0x55, 0xA9, 0x55, 0x55, 0x55, 0xA9)},
    {"0x35A every warning active", {.id = 0x35A, .u.alarms = {.levels = {{WA, WA, WA, WA, WA, WA, WA, WA, WA, WA, WA, WA, WA}}, .status = VCAN_STATUS_ONLINE}},
     8, FR(0x35A, 0xAA, 0xAA, 0xAA, 0xAA, 0x55, 0x55, 0x55, 0xA9)},
    {"0x35A an invalid level is refused", {.id = 0x35A, .u.alarms = {.levels = {{OK, 7, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK}}, .status = VCAN_STATUS_ONLINE}},
     TB_ERR_RANGE, NOFRAME},
    /* 0x35F */
    {"0x35F firmware bytes major first, unknown capacity -> 0", {.id = 0x35F, .u.info = {0, 2, 0xF2, NA, 0}}, 8,
     FR(0x35F, 0x00, 0x00, 0x02, 0xF2, 0x00, 0x00, 0x00, 0x00)},
    {"0x35F capacity clamps to 65535 Ah", {.id = 0x35F, .u.info = {0x1234, 1, 0, 70000.0f, 0}}, 8,
     FR(0x35F, 0x34, 0x12, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x00)},
    {"0x35F negative capacity -> 0", {.id = 0x35F, .u.info = {0, 1, 0, -1.0f, 0}}, 8,
     FR(0x35F, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00)},
    /* 0x372 */
    {"0x372 not-supported counts pass through", {.id = 0x372, .u.modules = {VCAN_U16_NA, VCAN_U16_NA, VCAN_U16_NA, VCAN_U16_NA}}, 8,
     FR(0x372, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)},
    /* 0x373 */
    {"0x373 clamps to 1..0xFFFE (0 and 0xFFFF mean not supported)", {.id = 0x373, .u.cells = {70.0f, 0.0f, -300.0f, 70000.0f}}, 8,
     FR(0x373, 0xFE, 0xFF, 0x01, 0x00, 0x01, 0x00, 0xFE, 0xFF)},
    {"0x373 rounding: 1.0625 V -> 1063 mV, 20.5 degC -> 294 K, -20.5 degC -> 253 K, unknown -> 0xFFFF",
     {.id = 0x373, .u.cells = {1.0625f, NA, 20.5f, -20.5f}}, 8, FR(0x373, 0x27, 0x04, 0xFF, 0xFF, 0x26, 0x01, 0xFD, 0x00)},
    /* 0x378 */
    {"0x378 negative -> 0, 150 Wh -> 2 x 100 Wh", {.id = 0x378, .u.energy = {-5.0, 150.0}}, 8,
     FR(0x378, 0, 0, 0, 0, 0x02, 0, 0, 0)},
    {"0x378 rolls over modulo 2^32 x 100 Wh", {.id = 0x378, .u.energy = {429496729700.0, 429496729500.0}}, 8,
     FR(0x378, 0x01, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)},
    {"0x378 rounding: 50 Wh -> 1, 49 Wh -> 0", {.id = 0x378, .u.energy = {50.0, 49.0}}, 8, FR(0x378, 0x01, 0, 0, 0, 0, 0, 0, 0)},
    {"0x378 unknown energy is refused", {.id = 0x378, .u.energy = {(double)NAN, 1.0}}, TB_ERR_RANGE, NOFRAME},
    /* 0x379 */
    {"0x379 155.5 Ah -> 156", {.id = 0x379, .u.capacity = {155.5f}}, 8, FR(0x379, 0x9C, 0, 0, 0, 0, 0, 0, 0)},
    {"0x379 clamps to 65535", {.id = 0x379, .u.capacity = {70000.0f}}, 8, FR(0x379, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0)},
    {"0x379 negative -> 0", {.id = 0x379, .u.capacity = {-3.0f}}, 8, FR(0x379, 0, 0, 0, 0, 0, 0, 0, 0)},
    {"0x379 unknown is refused", {.id = 0x379, .u.capacity = {NA}}, TB_ERR_RANGE, NOFRAME},
    /* text frames */
    {"0x35E \"TinyBMS\", zero padded", {.id = 0x35E, .u.text = {"TinyBMS"}}, 8,
     FR(0x35E, 0x54, 0x69, 0x6E, 0x79, 0x42, 0x4D, 0x53, 0x00)},
    {"0x382 exactly 8 characters, no terminator on the wire", {.id = 0x382, .u.text = {"ABCDEFGH"}}, 8,
     FR(0x382, 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H')},
    {"0x370 non-ASCII bytes become '?'", {.id = 0x370, .u.text = {"A\xC3\xA9" "B"}}, 8, FR(0x370, 'A', '?', '?', 'B', 0, 0, 0, 0)},
    /* ids the gateway must not encode */
    {"0x305 is the GX's id: no encoder", {.id = 0x305}, TB_ERR_ARG, NOFRAME},
    {"0x307 is the GX's id: no encoder", {.id = 0x307}, TB_ERR_ARG, NOFRAME},
    {"0x359 is not part of the Victron set", {.id = 0x359}, TB_ERR_ARG, NOFRAME},
};
const size_t vcan_encode_vector_count = sizeof vcan_encode_vectors / sizeof vcan_encode_vectors[0];

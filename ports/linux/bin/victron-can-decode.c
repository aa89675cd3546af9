/* victron-can-decode [FILE|-]: decodes a CAN capture (candump -L, or plain candump output) into
 * one JSON object per line, with the Victron CAN-bus BMS fields named and scaled.
 *
 *   candump -L can0 > bus.log ; victron-can-decode bus.log
 *   candump -L can0 | victron-can-decode -
 *
 * Output per frame:
 *   {"line":3,"time":"1700000000.123456","iface":"can0","id":"0x351","dlc":8,
 *    "data":"45024C044C040000","name":"limits","fields":{"cvl_v":58.1,"ccl_a":110,...}}
 * Ids outside the Victron set give "name":null and no fields; a frame of the set that cannot be
 * decoded (too short) gives "decode_error". A line that is not a CAN frame gives
 * {"error":"...","line":N}. Blank lines are skipped. The exit status is 0 when at least one frame
 * was decoded, even with bad lines (their count goes to stderr at the end); 1 when the input held
 * no frame at all (empty, or nothing parsable: the wrong file); 2 for usage errors or an
 * unreadable file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/jw.h"
#include "core/tb_err.h"
#include "app/vcan_json.h"
#include "core/vcan.h"
#include "ports/linux/can_candump.h"
#include "ports/linux/can_socketcan.h"

static void usage(FILE *to)
{
    fputs("usage: victron-can-decode [FILE|-]\n"
          "       victron-can-decode --version | --help\n"
          "Reads candump -L (or plain candump) lines from FILE or standard input and prints one JSON\n"
          "object per frame with the Victron CAN-bus BMS fields decoded (see docs/victron-can.md).\n"
          "Exit status: 0 frames decoded, 1 no frame in the input, 2 usage or read error.\n",
          to);
}

static void hex(char *dst, const uint8_t *d, unsigned n)
{
    dst[tb_hex_bytes(dst, d, n)] = '\0';
}

static void error_classes(jw_t *w, const can_frame_t *f)
{
    can_err_class_t c;
    can_socketcan_classify(f->id, f->data, f->dlc, &c);
    jw_key(w, "error_class");
    jw_arr_begin(w);
    static const char *const names[] = {"tx_timeout", "lost_arbitration", "controller", "rx_overflow",
                                        "error_warning", "error_passive", "back_to_active", "protocol",
                                        "transceiver", "no_ack", "bus_off", "bus_error", "restarted"};
    const bool flags[] = {c.tx_timeout, c.lost_arbitration, c.controller, c.rx_overflow, c.error_warning,
                          c.error_passive, c.back_to_active, c.protocol, c.transceiver, c.no_ack,
                          c.bus_off, c.bus_error, c.restarted};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (flags[i]) {
            jw_str(w, names[i]);
        }
    }
    jw_arr_end(w);
}

static void print_frame(unsigned long lineno, const candump_rec_t *r)
{
    char buf[2048];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    const can_frame_t *f = &r->frame;
    jw_obj_begin(&w);
    jw_kv_uint(&w, "line", lineno);
    if (r->has_time) {
        char t[48];
        snprintf(t, sizeof t, "%llu.%06u", (unsigned long long)r->sec, (unsigned)r->usec);
        jw_kv_str(&w, "time", t);
    } else {
        jw_kv_null(&w, "time");
    }
    jw_kv_str(&w, "iface", r->iface);
    char id[16];
    snprintf(id, sizeof id, (f->flags & (CAN_FLAG_EXT | CAN_FLAG_ERR)) ? "0x%08X" : "0x%03X", (unsigned)f->id);
    jw_kv_str(&w, "id", id);
    if (f->flags & CAN_FLAG_EXT) {
        jw_kv_bool(&w, "ext", true);
    }
    if (f->flags & CAN_FLAG_RTR) {
        jw_kv_bool(&w, "rtr", true);
    }
    jw_kv_uint(&w, "dlc", f->dlc);
    char data[2u * CAN_FRAME_MAX_DLC + 1u];
    hex(data, f->data, (f->flags & CAN_FLAG_RTR) ? 0u : f->dlc);
    jw_kv_str(&w, "data", data);
    if (f->flags & CAN_FLAG_ERR) {
        jw_kv_bool(&w, "error_frame", true);
        error_classes(&w, f);
    } else {
        const char *name = (f->flags & (CAN_FLAG_EXT | CAN_FLAG_RTR)) ? NULL : vcan_id_name(f->id);
        if (name) {
            jw_kv_str(&w, "name", name);
            vcan_msg_t m;
            int rc = vcan_decode(f, &m);
            if (rc == TB_OK) {
                jw_key(&w, "fields");
                jw_obj_begin(&w);
                vcan_json_fields(&w, &m);
                jw_obj_end(&w);
            } else {
                jw_kv_str(&w, "decode_error", "frame too short for this id");
            }
        } else {
            jw_kv_null(&w, "name");
        }
    }
    jw_obj_end(&w);
    if (jw_finish(&w) < 0) {
        printf("{\"error\":\"internal: output too long\",\"line\":%lu}\n", lineno);
        return;
    }
    puts(buf);
}

static void print_error(unsigned long lineno, const char *why)
{
    char buf[512];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    jw_kv_str(&w, "error", why);
    jw_kv_uint(&w, "line", lineno);
    jw_obj_end(&w);
    if (jw_finish(&w) >= 0) {
        puts(buf);
    }
}

int main(int argc, char **argv)
{
    const char *path = "-";
    if (argc > 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2) {
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
            printf("victron-can-decode %s\n", TB_VERSION);
            return 0;
        }
        if (argv[1][0] == '-' && argv[1][1] != '\0') {
            fprintf(stderr, "victron-can-decode: unknown option %s (a file whose name starts with '-': ./%s)\n",
                    argv[1], argv[1]);
            usage(stderr);
            return 2;
        }
        path = argv[1];
    }
    FILE *in = stdin;
    if (strcmp(path, "-") != 0) {
        in = fopen(path, "r");
        if (!in) {
            fprintf(stderr, "victron-can-decode: %s: %s\n", path, strerror(errno));
            return 2;
        }
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    unsigned long frames = 0;
    unsigned long bad = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        candump_rec_t rec;
        const char *why = NULL;
        int rc = candump_parse_line(line, (size_t)n, &rec, &why);
        if (rc == 0) {
            continue;
        }
        if (rc < 0) {
            bad++;
            print_error(lineno, why ? why : "unparsable line");
            continue;
        }
        frames++;
        print_frame(lineno, &rec);
    }
    int read_err = ferror(in);
    free(line);
    if (in != stdin) {
        fclose(in);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "victron-can-decode: writing output: %s\n", strerror(errno));
        return 2;
    }
    fprintf(stderr, "victron-can-decode: %lu frames, %lu unparsable lines\n", frames, bad);
    if (read_err) {
        fprintf(stderr, "victron-can-decode: %s: read error\n", path);
        return 2;
    }
    if (frames == 0u) {
        fprintf(stderr, "victron-can-decode: %s: no CAN frame found (expected candump -L lines such as "
                        "\"(1700000000.000000) can0 351#2C01E8030000D007\")\n",
                strcmp(path, "-") == 0 ? "standard input" : path);
        return 1;
    }
    return 0;
}

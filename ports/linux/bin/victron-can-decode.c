/* victron-can-decode [FILE|-]: decodes a CAN capture (candump -L, plain candump output, or the
 * slcan lines of a serial-line CAN adapter or of QEMU's can-host-chardev) into one JSON object
 * per line, with the Victron CAN-bus BMS fields named and scaled.
 *
 *   candump -L can0 > bus.log ; victron-can-decode bus.log
 *   candump -L can0 | victron-can-decode -
 *   victron-can-decode can.slcan        (lines "t3518...\r" as scripts/firmware-qemu.sh --can-log writes)
 *
 * Lines end with LF, CR or CR LF. A line that starts with t, T, r or R and holds no blank is an
 * slcan frame (ports/linux/can_slcan.h: tIIIL<data>, TIIIIIIIIL<data>, rIIIL, RIIIIIIIIL, with an
 * optional 4-digit timestamp that is ignored); its object has "time":null and "iface":"". The
 * slcan acknowledgements "z" and "Z" are skipped like blank lines. Anything else is read as
 * candump.
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
#include "ports/linux/can_slcan.h"
#include "ports/linux/can_socketcan.h"

static void usage(FILE *to)
{
    fputs("usage: victron-can-decode [FILE|-]\n"
          "       victron-can-decode --version | --help\n"
          "Reads candump -L (or plain candump) lines, or slcan lines (t3518...<CR>, as QEMU's\n"
          "can-host-chardev and serial-line CAN adapters write them), from FILE or standard input and\n"
          "prints one JSON object per frame with the Victron CAN-bus BMS fields decoded (see\n"
          "docs/victron-can.md). Lines may end with LF, CR or CR LF.\n"
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

#define LINE_MAX_BYTES (1024L * 1024L)
#define TOO_LONG (-2)

/* One line of in into *buf (NUL-terminated, without its terminator): LF, CR or CR LF end a line,
 * so that slcan captures (CR only) and candump files (LF, or CR LF) read alike. Returns its
 * length, -1 at the end of the input (a last line without a terminator counts), or TOO_LONG for
 * a line past LINE_MAX_BYTES (the rest of it is skipped). */
static ssize_t read_line(FILE *in, char **buf, size_t *cap)
{
    size_t len = 0;
    bool any = false;
    bool too_long = false;
    int c;
    while ((c = getc(in)) != EOF) {
        any = true;
        if (c == '\n') {
            break;
        }
        if (c == '\r') {
            int next = getc(in);
            if (next != '\n' && next != EOF) {
                ungetc(next, in);
            }
            break;
        }
        if (too_long) {
            continue;
        }
        if ((long)len >= LINE_MAX_BYTES) {
            too_long = true;
            continue;
        }
        if (len + 2u > *cap) {
            size_t ncap = *cap ? *cap * 2u : 256u;
            char *nb = realloc(*buf, ncap);
            if (!nb) {
                fprintf(stderr, "victron-can-decode: out of memory\n");
                exit(2);
            }
            *buf = nb;
            *cap = ncap;
        }
        (*buf)[len++] = (char)c;
    }
    if (!any) {
        return -1;
    }
    if (too_long) {
        return TOO_LONG;
    }
    if (*cap == 0u) {
        *buf = malloc(1);
        if (!*buf) {
            fprintf(stderr, "victron-can-decode: out of memory\n");
            exit(2);
        }
        *cap = 1;
    }
    (*buf)[len] = '\0';
    return (ssize_t)len;
}

/* An slcan line: starts with a frame letter and holds no blank (candump lines always do, or a '#'). */
static bool is_slcan(const char *line, size_t len)
{
    if (len == 0u || !strchr("tTrRzZ", line[0])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (line[i] == ' ' || line[i] == '\t' || line[i] == '#') {
            return false;
        }
    }
    return true;
}

/* Same return convention as candump_parse_line: 1 frame, 0 nothing to do (an acknowledgement),
 * TB_ERR_FORMAT with *why. */
static int parse_slcan(const char *line, size_t len, candump_rec_t *out, const char **why)
{
    can_frame_t f;
    switch (slcan_parse_line(line, len, &f)) {
    case SLCAN_LINE_FRAME:
        memset(out, 0, sizeof *out);
        out->frame = f;
        return 1;
    case SLCAN_LINE_ACK:
        return 0;
    default:
        *why = "not an slcan frame: expected tIIIL<data> (11-bit id <= 7FF) or TIIIIIIIIL<data> (29-bit id "
               "<= 1FFFFFFF), L = 0..8 data bytes as 2L hex digits, optionally a 4-digit timestamp";
        return TB_ERR_FORMAT;
    }
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
    while ((n = read_line(in, &line, &cap)) >= 0) {
        lineno++;
        if (n == TOO_LONG) {
            bad++;
            print_error(lineno, "line too long (more than 1 MiB)");
            continue;
        }
        candump_rec_t rec;
        const char *why = NULL;
        int rc = is_slcan(line, (size_t)n) ? parse_slcan(line, (size_t)n, &rec, &why)
                                           : candump_parse_line(line, (size_t)n, &rec, &why);
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
                        "\"(1700000000.000000) can0 351#2C01E8030000D007\" or slcan lines such as "
                        "\"t35182C01E8030000D007\")\n",
                strcmp(path, "-") == 0 ? "standard input" : path);
        return 1;
    }
    return 0;
}

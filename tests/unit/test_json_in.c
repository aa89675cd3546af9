/* json_in: the gate in front of every JSON parse (issue 16 item 1 and the strings items). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/json_in.h"
#include "app/utf8.h"

static cJSON *parse(const char *s, json_in_err_t *e)
{
    return json_in_parse(s, strlen(s), e);
}

static void refused(const char *s, json_in_reason_t r, const char *msg_part)
{
    json_in_err_t e;
    cJSON *root = parse(s, &e);
    if (root) {
        fail_msg("accepted: %s", s);
    }
    if (e.reason != r || !strstr(e.msg, msg_part)) {
        fail_msg("%s: reason %d msg '%s' (want %d, '%s')", s, (int)e.reason, e.msg, (int)r, msg_part);
    }
}

static char *nested(int depth, const char *open, const char *inner, const char *close)
{
    size_t n = strlen(open) * (size_t)depth + strlen(inner) + strlen(close) * (size_t)depth + 1u;
    char *s = malloc(n);
    assert_non_null(s);
    char *p = s; /* appended in place: strcat from the start would make 200 000 levels quadratic */
    size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
    for (int i = 0; i < depth; i++, p += lo) {
        memcpy(p, open, lo);
    }
    memcpy(p, inner, li);
    p += li;
    for (int i = 0; i < depth; i++, p += lc) {
        memcpy(p, close, lc);
    }
    *p = '\0';
    return s;
}

/* The report: {"password":[[[[...]]]]} about 1000 levels deep killed the daemon. With the gate,
 * every depth is answered, and the limit is exact. */
static void depth_is_bounded(void **state)
{
    (void)state;
    json_in_err_t e;
    for (int depth = 1; depth <= 100000; depth = depth < 40 ? depth + 1 : depth * 10) {
        char *inner = nested(depth - 1, "[", "1", "]");
        size_t n = strlen(inner) + 32u;
        char *s = malloc(n);
        assert_non_null(s);
        snprintf(s, n, "{\"password\":%s}", inner);
        cJSON *root = parse(s, &e);
        if (depth <= JSON_IN_MAX_DEPTH) {
            if (!root) {
                fail_msg("depth %d refused: %s", depth, e.msg);
            }
            cJSON_Delete(root);
        } else {
            assert_null(root);
            assert_int_equal(e.reason, JSON_IN_DEPTH);
            assert_non_null(strstr(e.msg, "nested deeper than 16 levels"));
            char want[128] = "password";
            for (int i = 1; i < JSON_IN_MAX_DEPTH; i++) {
                strcat(want, "[]");
            }
            assert_string_equal(e.path, want); /* where the value is */
        }
        free(inner);
        free(s);
    }
    /* objects count as levels too, and unbalanced openers alone are refused before cJSON */
    char *o = nested(JSON_IN_MAX_DEPTH + 1, "{\"a\":", "1", "}");
    refused(o, JSON_IN_DEPTH, "nested deeper");
    free(o);
    o = nested(200000, "[", "", "");
    refused(o, JSON_IN_DEPTH, "nested deeper");
    free(o);
    /* brackets inside strings are text, not levels */
    char *txt = nested(500, "[", "", "");
    size_t n = strlen(txt) + 16u;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "{\"a\":\"%s\"}", txt);
    cJSON *root = parse(s, &e);
    assert_non_null(root);
    cJSON_Delete(root);
    free(s);
    free(txt);
}

static void utf8_and_nul(void **state)
{
    (void)state;
    /* good text passes, multi-byte and escaped */
    json_in_err_t e;
    cJSON *root = parse("{\"name\":\"B\xc3\xa4tterie \xe2\x82\xac \xf0\x9f\x94\x8b \\u00e9 \\ud83d\\ude00\"}", &e);
    assert_non_null(root);
    cJSON_Delete(root);
    refused("{\"mqtt\":{\"password\":\"a\xff" "b\"}}", JSON_IN_ENCODING, "invalid UTF-8 in \"mqtt.password\"");
    refused("{\"a\":\"\xc0\xaf\"}", JSON_IN_ENCODING, "invalid UTF-8");             /* overlong '/' */
    refused("{\"a\":\"\xe0\x80\xaf\"}", JSON_IN_ENCODING, "invalid UTF-8");         /* overlong, 3 bytes */
    refused("{\"a\":\"\xed\xa0\x80\"}", JSON_IN_ENCODING, "invalid UTF-8");         /* a surrogate */
    refused("{\"a\":\"\xf4\x90\x80\x80\"}", JSON_IN_ENCODING, "invalid UTF-8");     /* > U+10FFFF */
    refused("{\"a\":\"\xe2\x82\"}", JSON_IN_ENCODING, "invalid UTF-8");             /* truncated */
    refused("{\"a\":\"x\x01y\"}", JSON_IN_ENCODING, "control character");
    refused("{\"mqtt\":{\"host\":\"ab\\u0000cd\"}}", JSON_IN_NUL, "\\u0000 (a NUL character) is not allowed in \"mqtt.host\"");
    refused("{\"a\":\"\\udc00\"}", JSON_IN_ENCODING, "lone UTF-16 low surrogate");
    refused("{\"a\":\"\\ud800x\"}", JSON_IN_ENCODING, "lone UTF-16 high surrogate");
    refused("{\"a\":\"\\ud800\\u0041\"}", JSON_IN_ENCODING, "lone UTF-16 high surrogate");
    refused("{\"k\xff\":1}", JSON_IN_ENCODING, "invalid UTF-8 in a key name");
    /* a raw NUL byte anywhere */
    const char nul[] = "{\"a\":1}\0";
    root = json_in_parse(nul, sizeof nul - 1u, &e);
    assert_null(root);
    assert_int_equal(e.reason, JSON_IN_NUL);
    /* line numbers count from 1 */
    refused("{\n\"a\":\n\"\xff\"}", JSON_IN_ENCODING, "(line 3)");
}

static void utf8_validator_exhaustive_two_bytes(void **state)
{
    (void)state;
    /* every two-byte sequence: accepted exactly when it is ASCII+ASCII or a valid 2-byte form */
    for (unsigned a = 0; a < 256u; a++) {
        for (unsigned b = 0; b < 256u; b++) {
            char s[2] = {(char)a, (char)b};
            int want = (a < 0x80u && b < 0x80u) || (a >= 0xC2u && a <= 0xDFu && b >= 0x80u && b <= 0xBFu);
            assert_int_equal(utf8_valid(s, 2), want);
        }
    }
}

static void duplicates_and_trailing(void **state)
{
    (void)state;
    refused("{\"a\":1,\"a\":2}", JSON_IN_DUPLICATE, "the key \"a\" appears twice");
    refused("{\"mqtt\":{\"port\":1883,\"host\":\"x\",\"port\":1}}", JSON_IN_DUPLICATE, "\"port\" appears twice");
    refused("[{\"x\":1},{\"y\":1,\"y\":1}]", JSON_IN_DUPLICATE, "\"y\"");
    refused("{\"a\":1} x", JSON_IN_TRAILING, "unexpected data after");
    refused("{\"a\":}", JSON_IN_SYNTAX, "JSON syntax error near line 1");
    refused("", JSON_IN_SYNTAX, "syntax");
    /* same key in sibling objects is fine, and white space may follow */
    json_in_err_t e;
    cJSON *root = parse("{\"a\":{\"x\":1},\"b\":{\"x\":2}} \n\t", &e);
    assert_non_null(root);
    cJSON_Delete(root);
}

static void member_count_is_bounded(void **state)
{
    (void)state;
    size_t cap = (JSON_IN_MAX_MEMBERS + 2u) * 16u;
    char *s = malloc(cap);
    assert_non_null(s);
    for (unsigned count = JSON_IN_MAX_MEMBERS; count <= JSON_IN_MAX_MEMBERS + 1u; count++) {
        size_t n = 0;
        s[n++] = '{';
        for (unsigned i = 0; i < count; i++) {
            n += (size_t)snprintf(s + n, cap - n, "%s\"k%u\":0", i ? "," : "", i);
        }
        s[n++] = '}';
        s[n] = '\0';
        json_in_err_t e;
        cJSON *root = parse(s, &e);
        if (count <= JSON_IN_MAX_MEMBERS) {
            assert_non_null(root);
            cJSON_Delete(root);
        } else {
            assert_null(root);
            assert_int_equal(e.reason, JSON_IN_MEMBERS);
        }
    }
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(depth_is_bounded),
        cmocka_unit_test(utf8_and_nul),
        cmocka_unit_test(utf8_validator_exhaustive_two_bytes),
        cmocka_unit_test(duplicates_and_trailing),
        cmocka_unit_test(member_count_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Bit images of floating-point numbers, and the compiler hint the size work relies on.
 *
 * On the ESP32-C3 (no FPU) every float or double comparison is a libgcc call, and memcpy()/
 * fabsf() are library calls in the freestanding build; reading the IEEE-754 bit image through a
 * union (valid C11) answers "is it finite?", "what is its sign?" or "what is |v|?" exactly, for
 * every input, in a few integer instructions. Header-only: nothing is linked into a build that
 * does not use it. */
#ifndef TB_BITS_H
#define TB_BITS_H

#include <stdbool.h>
#include <stdint.h>

/* Keep a helper out of line where -Os would otherwise copy it into every caller (measured per
 * use: it is not always smaller). */
#if defined(__GNUC__)
#define TB_NOINLINE __attribute__((noinline))
#else
#define TB_NOINLINE
#endif

typedef union {
    float f;
    uint32_t u;
} tb_f32_bits_t;

static inline uint32_t tb_f32_bits(float v)
{
    tb_f32_bits_t b = {.f = v};
    return b.u;
}

static inline float tb_f32_from_bits(uint32_t u)
{
    tb_f32_bits_t b = {.u = u};
    return b.f;
}

/* isfinite(): the exponent is not all ones (all ones = infinity or NaN). */
static inline bool tb_f32_finite(float v)
{
    return (tb_f32_bits(v) & 0x7F800000u) != 0x7F800000u;
}

/* fabsf(): the sign bit cleared, which is what fabsf() does (NaN stays NaN). */
static inline float tb_f32_abs(float v)
{
    return tb_f32_from_bits(tb_f32_bits(v) & 0x7FFFFFFFu);
}

static inline uint64_t tb_f64_bits(double v)
{
    union {
        double d;
        uint64_t u;
    } b = {.d = v};
    return b.u;
}

/* isfinite() for a double. */
static inline bool tb_f64_finite(double v)
{
    return (tb_f64_bits(v) & 0x7FF0000000000000u) != 0x7FF0000000000000u;
}

#endif

/* pixels kernel, written with the WebAssembly SIMD intrinsics of clang's
 * <wasm_simd128.h> (built with -msimd128; see params.h for what it computes
 * and pixels.c for the scalar reference it is checked against). Iteration
 * `it` handles 16-byte chunks [it * block_size, (it + 1) * block_size).
 * It uses widening, lane-wise multiply and shift, unsigned saturating add,
 * saturating narrowing, u32 -> f32 conversion and f32x4 arithmetic: every
 * device (interpreter, JIT, the GPU translator) runs the same v128 code.
 * Buffers: params, src (in), dst (out), sums (out). */
#ifndef __wasm_simd128__
#error "pixels_kernel.c needs -msimd128"
#endif
#include <wasm_simd128.h>

#include "wasi_parallel_kernel.h"
#include "params.h"

WP_KERNEL(WP_BUF(const struct pixels_params, p), WP_BUF(const uint8_t, src),
          WP_BUF(uint8_t, dst), WP_BUF(float, sums))
{
    uint32_t chunks = p->chunks, begin, end;
    if (chunks > src_len / 16) chunks = src_len / 16;
    if (chunks > dst_len / 16) chunks = dst_len / 16;
    if (chunks > sums_len / sizeof(float)) chunks = sums_len / sizeof(float);
    wp_block_range(WP_ITER, WP_BLOCK, chunks, &begin, &end);
    const v128_t gain = wasm_i16x8_splat((int16_t)p->gain);
    const v128_t bias = wasm_i16x8_splat((int16_t)p->bias);
    const v128_t scale = wasm_f32x4_splat(p->scale);
    for (uint32_t c = begin; c < end; c++) {
        v128_t v = wasm_v128_load(src + 16 * c);
        v128_t lo = wasm_u16x8_extend_low_u8x16(v), hi = wasm_u16x8_extend_high_u8x16(v);
        v128_t lo2 = wasm_u16x8_add_sat(wasm_u16x8_shr(wasm_i16x8_mul(lo, gain), 6), bias);
        v128_t hi2 = wasm_u16x8_add_sat(wasm_u16x8_shr(wasm_i16x8_mul(hi, gain), 6), bias);
        wasm_v128_store(dst + 16 * c, wasm_u8x16_narrow_i16x8(lo2, hi2));
        /* four f32x4 partial sums of the source bytes, added lane-wise */
        v128_t f0 = wasm_f32x4_convert_u32x4(wasm_u32x4_extend_low_u16x8(lo));
        v128_t f1 = wasm_f32x4_convert_u32x4(wasm_u32x4_extend_high_u16x8(lo));
        v128_t f2 = wasm_f32x4_convert_u32x4(wasm_u32x4_extend_low_u16x8(hi));
        v128_t f3 = wasm_f32x4_convert_u32x4(wasm_u32x4_extend_high_u16x8(hi));
        v128_t s = wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_add(f0, f1), wasm_f32x4_add(f2, f3)), scale);
        sums[c] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
                  (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
    }
}

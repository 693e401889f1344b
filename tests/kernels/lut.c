/* A clang-built kernel that reads a constant table from its data segment and
 * keeps a counter in a global of its private region.
 * Buffers: in = u32[], out = u32[]: out[i] = lut[in[i] % 16] * 3 + i for the
 * block of iteration `id`. */
typedef unsigned int u32;

static const u32 lut[16] = {7, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
u32 calls; /* private per worker: bss in [0, R) */

void kernel(int id, int num_iterations, int block_size,
            const u32 *in, int in_len, u32 *out, int out_len) {
    (void)num_iterations;
    (void)out_len;
    calls++;
    u32 n = (u32)in_len / 4;
    u32 start = (u32)id * (u32)block_size;
    u32 end = start + (u32)block_size;
    if (end > n) end = n;
    for (u32 i = start; i < end; i++) out[i] = lut[in[i] % 16u] * 3u + i;
}

/* A clang-built kernel with private per-iteration bins on the shadow stack
 * (exercises each worker's private [0, R) region).
 * Build: see build.sh next to this file.
 * Buffers: in = bytes (u8), out = counts (u32[256]) per block:
 * iteration `id` counts the bytes of block [id*block, (id+1)*block) and writes
 * its 256 counts into out[id*256 .. id*256+256). */
typedef unsigned int u32;
typedef unsigned char u8;

static void count(const u8 *data, u32 n, volatile u32 *bins) {
    for (u32 i = 0; i < n; i++) bins[data[i]]++;
}

void kernel(int id, int num_iterations, int block_size,
            const u8 *in, int in_len, u32 *out, int out_len) {
    (void)num_iterations;
    volatile u32 bins[256]; /* volatile: keep the bins in memory (shadow stack) */
    for (int i = 0; i < 256; i++) bins[i] = 0;
    u32 start = (u32)id * (u32)block_size;
    u32 end = start + (u32)block_size;
    if (end > (u32)in_len) end = (u32)in_len;
    if (start < end) count(in + start, end - start, bins);
    if ((u32)(id + 1) * 256u * 4u > (u32)out_len) __builtin_trap();
    for (int i = 0; i < 256; i++) out[id * 256 + i] = bins[i];
}

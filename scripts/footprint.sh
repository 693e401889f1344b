#!/usr/bin/env bash
# Footprint of libwasi_parallel (BENCHMARKS.md, section "Footprint"):
# per target and feature set, the size of libwasi_parallel.a, of the stripped
# libwasi_parallel.so and CLI, of a stripped minimal C host
# (c-examples/embedded_host.c) linking the static library, and the peak RSS
# of that host running a small guest with one kernel call (4096 elements,
# 64 iterations, CPU device with 2 threads).
#
# usage: scripts/footprint.sh [TARGET...]     (default: x86_64 aarch64)
# environment:
#   FOOT_FEATURES  feature sets to compare (default: "default wat": the crate
#                  defaults (vulkan + wat) and without vulkan; add "none" for
#                  neither vulkan nor wat (binary wasm only; runs square_guest.wasm))
#   FOOT_OUT       work directory (default: target/footprint)
# Prints a Markdown table on stdout. Peak RSS is /usr/bin/time's "maximum
# resident set size"; on a non-native target it is measured under qemu user
# mode and includes the emulator, so the table also gives qemu running an
# empty C program (baseline) and the difference.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(x86_64 aarch64)
featsets=${FOOT_FEATURES:-default wat}
out=${FOOT_OUT:-$root/target/footprint}
guest=$root/c-examples/embedded/square_guest.wat
mkdir -p "$out"
rows=()
kib() { echo $(( ($1 + 512) / 1024 )); }
for t in "${targets[@]}"; do
  case "$t" in
    x86_64) rt=x86_64-unknown-linux-gnu; cc=cc; strip=strip; run=() ;;
    aarch64) rt=aarch64-unknown-linux-gnu; cc=aarch64-linux-gnu-gcc; strip=aarch64-linux-gnu-strip
             run=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
    armv7) rt=armv7-unknown-linux-gnueabihf; cc=arm-linux-gnueabihf-gcc; strip=arm-linux-gnueabihf-strip
           run=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
    *) echo "footprint.sh: unknown target $t" >&2; exit 2 ;;
  esac
  # Baseline RSS of an empty C program (the emulator's own share under qemu).
  printf 'int main(void) { return 0; }\n' > "$out/empty.c"
  $cc -O2 "$out/empty.c" -o "$out/empty-$t"
  base=$( { /usr/bin/time -f %M "${run[@]}" "$out/empty-$t" >/dev/null; } 2>&1 | tail -n 1)
  for fs in $featsets; do
    prefix=$out/$t-$fs
    tb=$(date +%s)
    FEATURES=$fs scripts/cross-build.sh "$rt" "$prefix" >&2
    build_s=$(( $(date +%s) - tb ))
    g=$guest; case ",$fs," in *,wat,*|,default,) ;; *) g=${guest%.wat}.wasm ;; esac
    host=$prefix/embedded_host
    $cc -O2 -ffunction-sections -fdata-sections -I"$prefix/include" c-examples/embedded_host.c \
      "$prefix/lib/libwasi_parallel.a" -Wl,--gc-sections -lpthread -ldl -lm -o "$host"
    $strip "$host"
    [ "$("${run[@]}" "$host" "$g" 2 4096 64 1)" = ok ] || { echo "footprint.sh: $host failed" >&2; exit 1; }
    # Peak RSS: best of 3 runs (kB).
    rss=""
    for _ in 1 2 3; do
      r=$( { /usr/bin/time -f %M "${run[@]}" "$host" "$g" 2 4096 64 1 >/dev/null; } 2>&1 | tail -n 1)
      { [ -z "$rss" ] || [ "$r" -lt "$rss" ]; } && rss=$r
    done
    a=$(stat -c %s "$prefix/lib/libwasi_parallel.a")
    so=$(stat -L -c %s "$prefix/lib/libwasi_parallel.so")
    cli=$(stat -c %s "$prefix/bin/wasi-parallel")
    h=$(stat -c %s "$host")
    if [ ${#run[@]} -eq 0 ]; then rss_col="$rss kB (empty C program: $base kB)"
    else rss_col="$rss kB under qemu (qemu + empty C program: $base kB; difference $((rss - base)) kB)"; fi
    rows+=("| $t | $fs | $(kib "$a") KiB | $(kib "$so") KiB | $(kib "$cli") KiB | $(kib "$h") KiB | $rss_col | ${build_s} s |")
    echo "footprint.sh: $t/$fs done" >&2
  done
done
echo "| target | features | libwasi_parallel.a | libwasi_parallel.so (stripped) | CLI (stripped) | minimal C host (static, stripped) | peak RSS of the host, 1 kernel call | build time |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"

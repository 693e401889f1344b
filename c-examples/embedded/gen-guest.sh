#!/usr/bin/env bash
# Regenerates square_guest.wat and square_guest.wasm (committed) from square_guest.wat.in and
# square_kernel.wat: the kernel is assembled with wat2wasm (Debian `wabt`) and
# its bytes embedded as a WAT data string. Only needed after editing either.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
wat2wasm square_kernel.wat -o "$tmp"
python3 - "$tmp" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
s = open('square_guest.wat.in').read()
s = s.replace('@KERNEL_LEN@', str(len(b))).replace('@KERNEL_BYTES@', ''.join('\\%02x' % x for x in b))
open('square_guest.wat', 'w').write(s)
PY
# Binary form too, for builds without the `wat` feature.
wat2wasm square_guest.wat -o square_guest.wasm
echo "square_guest.wat/.wasm: kernel of $(stat -c %s "$tmp") bytes embedded"

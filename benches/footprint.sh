#!/usr/bin/env bash
# What apiauth costs a program: crates pulled in, clean release build time of the library,
# and the stripped size of a binary that fetches a token over TLS (examples/header.rs, built
# with the `min` profile: opt-level "z", LTO, panic = "abort"). Not a test: it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

crates=$(cargo tree -e normal --prefix none 2>/dev/null | sed 's/ (\*)$//' | sort -u | grep -vc '^apiauth ')
start=$(date +%s.%N)
CARGO_TARGET_DIR="$scratch" cargo build -q --release --lib
build=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
CARGO_TARGET_DIR="$scratch" cargo build -q --profile min --example header
size=$(stat -c %s "$scratch/min/examples/header")

printf 'crates (cargo tree -e normal, rustls): %s (target <= 32)\n' "$crates"
printf 'clean release build of the library:   %s s on %s cores\n' "$build" "$(nproc)"
printf 'stripped header binary (profile min):  %s bytes = %s MB (target <= 2.0 MB)\n' \
  "$size" "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1000000 }')"

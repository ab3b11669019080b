#!/usr/bin/env bash
# Runs EventBusBench RUNS times (default 5) in release mode and writes every run's records, tagged with
# the run number, to Benchmarks/EventBusBench/results.jsonl; render.py reports medians and ranges.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-5}"
if ! out=$(swift build -c release --package-path Benchmarks/EventBusBench 2>&1); then
  echo "$out" >&2 # a failed build must say why (set -e alone would exit without a word)
  exit 1
fi
# The C ring benchmark gives the zero-copy rows their references in the same run (floor, futex, C rings).
scripts/ensure-deps
mkdir -p .build
CC=${CC:-$(command -v cc || command -v clang)}
"$CC" -O2 -std=gnu11 -ICSupport/CRingBus/include CSupport/CRingBus/*.c Benchmarks/ring/ringbench.c \
   -luring -lpthread -o .build/ringbench
bin=Benchmarks/EventBusBench/.build/release/EventBusBench
out=Benchmarks/EventBusBench/results.jsonl
: > "$out.tmp"
for r in $(seq 1 "$runs"); do
  "$bin" | sed "s/^{/{\"run\":$r,/" >> "$out.tmp"
done
mv "$out.tmp" "$out"
echo "wrote $out ($runs runs)"

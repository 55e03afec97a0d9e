#!/usr/bin/env bash
# Maintenance benchmark (issue: optimize and vacuum). Figures go in bench/RESULTS.md.
#
#   bench/cmd/maintbench/run.sh [DIR]        DIR defaults to /tmp/maintbench
#
# 1. Builds maintbench and gentable into DIR/bin.
# 2. Optimize: DIR/t10k, a tile table of 10,000 files of ~100 KB (maintbench gen-tiles; kept
#    between runs). RUNS rounds (default 3), each running `maintbench optimize` (target 256 MiB,
#    then undone) and `maintbench rewrite` (the floor), in an order that alternates by round.
# 3. Vacuum: DIR/v1m and DIR/v100k, made by gentable (1M / 100k live files in a checkpoint, a
#    tail of 100 commits, 2,000 tombstones) plus a listing with 100k / 10k orphans
#    (maintbench vacuum-prep). RUNS rounds of full and lite vacuum on each.
# Each run prints one JSON line (seconds, MB/s, peak RSS from getrusage, sampled heap peak);
# all go to DIR/results.jsonl, and a summary of medians is printed at the end.
set -euo pipefail

DIR=${1:-/tmp/maintbench}
RUNS=${RUNS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$DIR/bin"
(cd "$ROOT" && go build -o "$DIR/bin/maintbench" ./bench/cmd/maintbench && go build -o "$DIR/bin/gentable" ./bench/cmd/gentable)
MB="$DIR/bin/maintbench"
OUT="$DIR/results.jsonl"
: >"$OUT"

[ -f "$DIR/t10k/_bench/gen.json" ] || { rm -rf "$DIR/t10k"; "$MB" gen-tiles -out "$DIR/t10k" -n 10000 | tee -a "$OUT"; }
for s in v100k:100000:10000 v1m:1000000:100000; do
  name=${s%%:*} rest=${s#*:} n=${rest%%:*} orphans=${rest##*:}
  if [ ! -f "$DIR/$name/_bench/listing.tsv" ]; then
    rm -rf "$DIR/$name"
    "$DIR/bin/gentable" -n "$n" -out "$DIR/$name" >/dev/null
    "$MB" vacuum-prep -table "$DIR/$name" -orphans "$orphans" | tee -a "$OUT"
  fi
done

for r in $(seq 1 "$RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then order="optimize rewrite"; else order="rewrite optimize"; fi
  for m in $order; do
    "$MB" "$m" -table "$DIR/t10k" | sed "s/^{/{\"round\":$r,/" | tee -a "$OUT"
  done
  for t in v100k v1m; do
    for vm in full lite; do
      "$MB" vacuum -table "$DIR/$t" -mode "$vm" | sed "s/^{/{\"round\":$r,\"table\":\"$t\",/" | tee -a "$OUT"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(xs): return statistics.median(xs) if xs else float('nan')
opt = [r for r in rows if r["mode"] == "optimize"]
rw = [r for r in rows if r["mode"] == "rewrite"]
ratios = []
for o in opt:
    w = [x for x in rw if x.get("round") == o.get("round")]
    if w: ratios.append(o["MBps"] / w[0]["MBps"])
print("| run | MB/s (median) | seconds | peak RSS MiB (max) | heap peak MiB (max) |")
print("|---|---|---|---|---|")
for name, rs in (("optimize", opt), ("rewrite (floor)", rw)):
    print(f"| {name} | {med([r['MBps'] for r in rs]):.1f} | {med([r['seconds'] for r in rs]):.1f} | {max(r['maxRSSMiB'] for r in rs):.0f} | {max(r['heapPeakMiB'] for r in rs):.0f} |")
print(f"\noptimize / rewrite throughput, per round: {', '.join(f'{x:.2f}' for x in ratios)}; median {med(ratios):.2f}\n")
print("| table | mode | objects listed | deleted | seconds (median) | peak RSS MiB (max) | heap peak MiB (max) | needed set MiB |")
print("|---|---|---|---|---|---|---|---|")
for t in ("v100k", "v1m"):
    for m in ("FULL", "LITE"):
        rs = [r for r in rows if r["mode"] == "vacuum" and r.get("table") == t and r["vacuumMode"] == m]
        if rs:
            print(f"| {t} | {m} | {rs[0]['listed']} | {rs[0]['deleted']} | {med([r['seconds'] for r in rs]):.1f} | {max(r['maxRSSMiB'] for r in rs):.0f} | {max(r['heapPeakMiB'] for r in rs):.0f} | {rs[0]['neededSetMiB']:.1f} |")
PY

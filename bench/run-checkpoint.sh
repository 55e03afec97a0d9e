#!/usr/bin/env bash
# Checkpoint benchmark (issue: streaming checkpoints). Figures go in bench/RESULTS.md.
#
#   bench/run-checkpoint.sh [DIR]        DIR defaults to /tmp/cpbench
#
# 1. Builds gentable, cpbench (main module) and deltago (bench/deltago, its own module) into
#    DIR/bin.
# 2. Generates the tables DIR/t100k, DIR/t1m, DIR/t5m (N live files in checkpoint 1, then 100
#    commits of 50 adds + 20 removes). A table whose _bench/gentable.json names the same N is
#    reused; anything else at that path is deleted and generated again.
# 3. RUNS rounds (default 5); each round runs, for every size, ours (checkpoint.Write at version
#    101), copy (arrow-go copy of checkpoint 1: the floor) and delta-go, in an order rotated
#    every round, each under /usr/bin/time -v, after `cpbench reset` (which deletes the
#    checkpoint, .crc and _last_checkpoint the previous run wrote and puts back the hint -> 1).
#    Raw figures: DIR/results.tsv (size tool round seconds maxrss_kib).
#    The foreign series: tables DIR/f100k, DIR/f1m, DIR/f2m whose checkpoint 1 was written by
#    parquet-go in Spark's schema with row groups of 1M rows (gentable -foreign), then 10
#    commits; each round also runs ours on them (the row path: no column of theirs has our types).
# 4. Prints a markdown table of medians and the ratios against the issue's targets; ratios are
#    the medians of the per-round ratios (the runs of one round are side by side).
#
# Environment: RUNS (5), SIZES ("100k:100000 1m:1000000 5m:5000000"), FOREIGN_SIZES
# ("100k:100000 1m:1000000 2m:2000000"; "" for none), FOREIGN_TAIL (10), DELTAGO_SIZES
# ("100k 1m": delta-go at 5M holds the whole state in memory, >10 GiB on a shared machine),
# CPU_PROFILE=1 writes DIR/ours-SIZE.pprof from one extra, unmeasured run of ours per size.
set -euo pipefail

DIR=${1:-/tmp/cpbench}
RUNS=${RUNS:-5}
SIZES=${SIZES:-"100k:100000 1m:1000000 5m:5000000"}
FOREIGN_SIZES=${FOREIGN_SIZES-"100k:100000 1m:1000000 2m:2000000"}
FOREIGN_TAIL=${FOREIGN_TAIL:-10}
DELTAGO_SIZES=${DELTAGO_SIZES:-"100k 1m"}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
export PATH=/usr/local/go/bin:$PATH
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "need /usr/bin/time (Debian package: time)" >&2; exit 1; }

mkdir -p "$DIR/bin"
(cd "$ROOT" && go build -o "$DIR/bin/gentable" ./bench/cmd/gentable && go build -o "$DIR/bin/cpbench" ./bench/cmd/cpbench)
(cd "$HERE/deltago" && go build -o "$DIR/bin/deltago" .)

GEN_TIME=$(($(date +%s) / 60 * 60000)) # one clock for every table generated now
for s in $SIZES; do
  name=${s%%:*} n=${s##*:} t="$DIR/t${s%%:*}"
  if [ -f "$t/_bench/gentable.json" ] && grep -q "\"n\": $n," "$t/_bench/gentable.json"; then
    echo "reusing $t" >&2
  else
    rm -rf "$t"
    echo "generating $t ($n files)" >&2
    "$TIME" -v -o "$DIR/t$name.gen.time" "$DIR/bin/gentable" -n "$n" -time "$GEN_TIME" -out "$t" >"$DIR/t$name.gen.json"
    grep -E "Elapsed|Maximum resident" "$DIR/t$name.gen.time" >&2
  fi
done
for s in $FOREIGN_SIZES; do
  name=${s%%:*} n=${s##*:} t="$DIR/f${s%%:*}"
  if [ -f "$t/_bench/gentable.json" ] && grep -q "\"n\": $n," "$t/_bench/gentable.json" &&
    grep -q '"foreign": true' "$t/_bench/gentable.json" && grep -q "\"tail\": $FOREIGN_TAIL," "$t/_bench/gentable.json"; then
    echo "reusing $t" >&2
  else
    rm -rf "$t"
    echo "generating $t ($n files, foreign checkpoint)" >&2
    "$TIME" -v -o "$DIR/f$name.gen.time" "$DIR/bin/gentable" -foreign -tail "$FOREIGN_TAIL" -n "$n" -time "$GEN_TIME" -out "$t" >"$DIR/f$name.gen.json"
    grep -E "Elapsed|Maximum resident" "$DIR/f$name.gen.time" >&2
  fi
done

RES="$DIR/results.tsv"
printf 'size\ttool\tround\tseconds\tcpu_seconds\tmaxrss_kib\n' >"$RES"

# one SIZE TOOL ROUND: reset the table, run TOOL under time -v, append a line to results.tsv.
# SIZE is a size name of SIZES, or f + one of FOREIGN_SIZES (the table DIR/fSIZE).
one() {
  local size=$1 tool=$2 round=$3 t="$DIR/t$1" out tv
  case $size in f*) t="$DIR/$size" ;; esac
  out=$(mktemp) tv=$(mktemp)
  "$DIR/bin/cpbench" reset -table "$t"
  case $tool in
    ours) "$TIME" -v -o "$tv" "$DIR/bin/cpbench" ours -table "$t" >"$out" ;;
    copy) "$TIME" -v -o "$tv" "$DIR/bin/cpbench" copy -table "$t" >"$out" ;;
    delta-go) "$TIME" -v -o "$tv" "$DIR/bin/deltago" -table "$t" >"$out" ;;
  esac
  local secs rss cpu
  secs=$(sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p' "$out")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tv")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$tv")
  grep -q '"ok":true' "$out" || { echo "$tool on $size: unexpected result: $(cat "$out")" >&2; exit 1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$tool" "$round" "$secs" "$cpu" "$rss" >>"$RES"
  printf '%-5s %-8s round %s: %8.2f s %8.2f s CPU %8.1f MiB  %s\n' "$size" "$tool" "$round" "$secs" "$cpu" "$(awk "BEGIN{print $rss/1024}")" "$(cat "$out")" >&2
  rm -f "$out" "$tv"
}

for ((r = 1; r <= RUNS; r++)); do
  for s in $SIZES; do
    size=${s%%:*}
    tools=(ours copy)
    case " $DELTAGO_SIZES " in *" $size "*) tools+=(delta-go) ;; esac
    k=${#tools[@]}
    for ((i = 0; i < k; i++)); do
      one "$size" "${tools[$(((i + r) % k))]}" "$r"
    done
  done
  for s in $FOREIGN_SIZES; do
    one "f${s%%:*}" ours "$r"
  done
done
for s in $SIZES; do "$DIR/bin/cpbench" reset -table "$DIR/t${s%%:*}"; done
for s in $FOREIGN_SIZES; do "$DIR/bin/cpbench" reset -table "$DIR/f${s%%:*}"; done

if [ "${CPU_PROFILE:-0}" = 1 ]; then
  for s in $SIZES; do
    size=${s%%:*}
    "$DIR/bin/cpbench" reset -table "$DIR/t$size"
    "$DIR/bin/cpbench" ours -table "$DIR/t$size" -cpuprofile "$DIR/ours-$size.pprof" >/dev/null
    "$DIR/bin/cpbench" reset -table "$DIR/t$size"
  done
fi

python3 - "$RES" "$SIZES" "$FOREIGN_SIZES" <<'EOF'
import sys, csv, statistics as st
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
sizes = [s.split(":")[0] for s in sys.argv[2].split()]
sec, cpu, rss = defaultdict(dict), defaultdict(dict), defaultdict(dict)
for r in rows:
    k = (r["size"], r["tool"])
    sec[k][r["round"]] = float(r["seconds"])
    cpu[k][r["round"]] = float(r["cpu_seconds"])
    rss[k][r["round"]] = int(r["maxrss_kib"]) / 1024
med = lambda d: st.median(d.values()) if d else None
def ratio(a, b):  # median of the per-round ratios: the runs of one round ran side by side
    rs = [a[k] / b[k] for k in a if k in b]
    return st.median(rs) if rs else None
f = lambda x, p=2: "n/a" if x is None else f"{x:.{p}f}"
print("Medians. wall: measured inside the process around the checkpoint (or the copy); CPU: user+sys")
print("of the process; peak RSS: maximum resident set size from /usr/bin/time -v.")
print()
print("| files | tool | wall s | CPU s | peak RSS MiB | runs |")
print("|---|---|---|---|---|---|")
for s in sizes:
    for t in ["ours", "copy", "delta-go"]:
        k = (s, t)
        if sec[k]:
            print(f"| {s} | {t} | {f(med(sec[k]))} | {f(med(cpu[k]))} | {f(med(rss[k]), 0)} | {len(sec[k])} |")
print()
print("Ratios: medians of the per-round ratios (the runs of one round ran side by side).")
print()
print("| files | ours/copy wall | ours/copy CPU | ours/delta-go wall | ours/delta-go CPU | ours/delta-go RSS |")
print("|---|---|---|---|---|---|")
for s in sizes:
    o, c, d = (s, "ours"), (s, "copy"), (s, "delta-go")
    print(f"| {s} | {f(ratio(sec[o], sec[c]))} | {f(ratio(cpu[o], cpu[c]))} | {f(ratio(sec[o], sec[d]))} | "
          f"{f(ratio(cpu[o], cpu[d]))} | {f(ratio(rss[o], rss[d]))} |")
print()
small, big = sizes[0], sizes[-1]
rb, rs = med(rss[(big, "ours")]), med(rss[(small, "ours")])
print(f"- ours, peak RSS {big} / {small}: {f(rb / rs if rb and rs else None)} (target <= 1.15; it was 1.25 before)")
print(f"- ours, peak RSS at {big}: {f(rb, 0)} MiB (target < 192; it was 256 before)")
for s in sizes:
    print(f"- ours / copy at {s}: wall {f(ratio(sec[(s,'ours')], sec[(s,'copy')]))}, "
          f"CPU {f(ratio(cpu[(s,'ours')], cpu[(s,'copy')]))} (target <= 1.5)")
for s in sizes:
    if sec[(s, "delta-go")]:
        print(f"- ours / delta-go at {s}: wall {f(ratio(sec[(s,'ours')], sec[(s,'delta-go')]))}, "
              f"CPU {f(ratio(cpu[(s,'ours')], cpu[(s,'delta-go')]))} (target <= 0.2 at 1m)")
foreign = ["f" + s.split(":")[0] for s in sys.argv[3].split()]
if foreign:
    print()
    print("Foreign series (checkpoint 1 written by parquet-go in Spark's schema, row groups of 1M rows):")
    print()
    print("| files | tool | wall s | CPU s | peak RSS MiB | runs |")
    print("|---|---|---|---|---|---|")
    for s in foreign:
        k = (s, "ours")
        if sec[k]:
            print(f"| {s[1:]} | ours (row path) | {f(med(sec[k]))} | {f(med(cpu[k]))} | {f(med(rss[k]), 0)} | {len(sec[k])} |")
    print()
    small, big = foreign[0], foreign[-1]
    rb, rs = med(rss[(big, "ours")]), med(rss[(small, "ours")])
    print(f"- foreign, peak RSS {big[1:]} / {small[1:]}: {f(rb / rs if rb and rs else None)} (target <= 1.15)")
    print(f"- foreign, peak RSS at {big[1:]}: {f(rb, 0)} MiB (target < 192)")
EOF

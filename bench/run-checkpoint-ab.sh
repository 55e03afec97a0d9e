#!/usr/bin/env bash
# Two builds of cpbench side by side on the same tables (issue 9, item 7). Figures go in
# bench/RESULTS.md.
#
#   bench/run-checkpoint-ab.sh OLD_CPBENCH NEW_CPBENCH OUT.tsv TABLE...
#
# OLD_CPBENCH and NEW_CPBENCH are cpbench binaries (go build -o X ./bench/cmd/cpbench at two
# commits); each TABLE is a table made by gentable (e.g. -foreign -tail 10 -n 2000000). RUNS
# rounds (default 3); in each, for each table, both builds run `cpbench ours` under
# /usr/bin/time -v after `cpbench reset`, in an order alternating by round. Appends one line
# per run to OUT.tsv (table build round seconds cpu_seconds maxrss_kib out_bytes) and prints
# the medians and the 2nd-table / 1st-table peak-RSS ratio of each build.
#
# MODE (default ours) picks what runs: ours (`cpbench ours`), hook (`cpbench hook`: the
# post-commit hook in-process, .crc then checkpoint) or deltactl (OLD and NEW are then deltactl
# binaries, run as `deltactl checkpoint TABLE --json`, and CPBENCH names the cpbench binary
# that resets the table).
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,12p "$0" >&2; exit 2; }
OLD=$1 NEW=$2 OUT=$3
shift 3
RUNS=${RUNS:-3}
MODE=${MODE:-ours}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "need /usr/bin/time (Debian package: time)" >&2; exit 1; }
printf 'table\tbuild\tround\tseconds\tcpu_seconds\tmaxrss_kib\tout_bytes\n' >"$OUT"
tv=$(mktemp) out=$(mktemp)
trap 'rm -f "$tv" "$out"' EXIT
for ((r = 1; r <= RUNS; r++)); do
  for t in "$@"; do
    if ((r % 2)); then order="old new"; else order="new old"; fi
    for b in $order; do
      bin=$OLD
      [ "$b" = new ] && bin=$NEW
      case $MODE in
        ours | hook)
          "$bin" reset -table "$t"
          "$TIME" -v -o "$tv" "$bin" "$MODE" -table "$t" >"$out"
          grep -q '"ok":true' "$out" || { echo "$b on $t: unexpected result: $(cat "$out")" >&2; exit 1; }
          ;;
        deltactl)
          "${CPBENCH:?set CPBENCH to a cpbench binary (it resets the tables)}" reset -table "$t"
          "$TIME" -v -o "$tv" "$bin" checkpoint "$t" --json >"$out"
          grep -q '"numAddFiles"' "$out" || { echo "$b on $t: unexpected result: $(cat "$out")" >&2; exit 1; }
          ;;
        *) echo "unknown MODE $MODE" >&2; exit 2 ;;
      esac
      rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tv")
      cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$tv")
      sec=$(sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p' "$out")
      ob=$(sed -n 's/.*"\(outBytes\|sizeInBytes\)":\([0-9]*\).*/\2/p' "$out")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(basename "$t")" "$b" "$r" "$sec" "$cpu" "$rss" "$ob" | tee -a "$OUT" >&2
    done
  done
done
for t in "$@"; do "${CPBENCH:-$OLD}" reset -table "$t"; done
python3 - "$OUT" <<'PY'
import sys, csv, statistics as st
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
tables = list(dict.fromkeys(r["table"] for r in rows))
v = defaultdict(lambda: defaultdict(list))
for r in rows:
    for k in ("seconds", "cpu_seconds", "maxrss_kib"):
        v[(r["table"], r["build"])][k].append(float(r[k]))
print("| table | build | peak RSS MiB (runs) | median | CPU s median | wall s median |")
print("|---|---|---|---|---|---|")
for t in tables:
    for b in ("old", "new"):
        x = v[(t, b)]
        print(f"| {t} | {b} | {' '.join(str(round(a / 1024)) for a in x['maxrss_kib'])} | "
              f"{st.median(x['maxrss_kib']) / 1024:.0f} | {st.median(x['cpu_seconds']):.2f} | {st.median(x['seconds']):.2f} |")
for t in tables:
    o, n = v[(t, "old")]["cpu_seconds"], v[(t, "new")]["cpu_seconds"]
    print(f"- {t}: CPU new/old, median of the rounds: {st.median([a / b for a, b in zip(n, o)]):.2f}")
if len(tables) >= 2:
    for b in ("old", "new"):
        big, small = st.median(v[(tables[1], b)]["maxrss_kib"]), st.median(v[(tables[0], b)]["maxrss_kib"])
        print(f"- {b}: peak RSS {tables[1]} / {tables[0]}: {big / small:.3f}")
PY

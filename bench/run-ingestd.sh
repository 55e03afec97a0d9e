#!/usr/bin/env bash
# ingestd benchmarks (issue 11, must show). Figures go in bench/RESULTS.md.
#
#   bench/run-ingestd.sh throughput [DIR]   DIR defaults to /tmp/ingestdbench
#   bench/run-ingestd.sh memory [DIR]
#
# Both build ingestd, deltactl, ingestdbench and gentable into DIR/bin and make their rasters
# with bench/run-ingest.sh's generator (RUNS=0: rasters only; 4 bands UInt16, tiled 256x256,
# DEFLATE, EPSG:32633) under DIR/gen/src. Scenes are hard links of one raster under distinct
# names: distinct sources to the table (a source is its location), the same pixels.
#
# throughput: N scenes (48) of SIZE x SIZE pixels (1024) into a fresh local table, ROUNDS
#   rounds (3), the two tools alternating first:
#     ingestd   ingestd --table T --watch SCENES --once --metrics-addr "" (batches of 16, the
#               default; the next batch decoded while the previous one commits)
#     loop      for f in SCENES/*; do deltactl ingest T $f; done
#     base      BASE_INGESTD (an ingestd built from another commit, such as one without the
#               overlap) run as ingestd is; TOOLS="ingestd loop base" (default "ingestd loop"),
#               the order rotated every round
#   each under ingestdbench run (wall, CPU seconds of the process tree from its rusage, RSS
#   and CPU sampled every 200 ms). Prints scenes per minute and CPU seconds / wall second
#   per run and the medians; raw figures in DIR/throughput.tsv.
#
# memory: gentable -n FILES (1000000) -raster b1,b2,b3,b4:UInt16 (made once, copied fresh for
#   the run), then SMALL scenes (1000) of SMALL_SIZE (512) with LARGE scenes (20) of LARGE_SIZE
#   (4000) spread evenly among them (named so the listing interleaves them), ingested by one
#   ingestd --once --checkpoint-interval 10 under ingestdbench run: the series goes to
#   OUT (bench/ingestd-memory.csv) and its plot to bench/ingestd-memory.png; the summary
#   compares the peak RSS while the first WINDOW (500) scenes were committed with the last
#   WINDOW, and the peak RSS during checkpoints with the rest.
set -euo pipefail

MODE=${1:?usage: run-ingestd.sh throughput|memory [DIR]}
DIR=${2:-/tmp/ingestdbench}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$DIR/bin"
(cd "$ROOT" && go build -o "$DIR/bin/" ./cmd/ingestd ./cmd/deltactl ./bench/cmd/ingestdbench ./bench/cmd/gentable)
B=$DIR/bin

rasters() { # SIZE...
  local s sizes=""
  for s in "$@"; do sizes="$sizes r$s:$s"; done
  RUNS=0 TOOLS=ours SIZES="${sizes# }" "$HERE/run-ingest.sh" "$DIR/gen" >/dev/null
}

case $MODE in
throughput)
  N=${N:-48} SIZE=${SIZE:-1024} ROUNDS=${ROUNDS:-3} TOOLS=${TOOLS:-ingestd loop}
  rasters "$SIZE"
  rm -rf "$DIR/scenes" && mkdir -p "$DIR/scenes"
  for ((i = 0; i < N; i++)); do ln "$DIR/gen/src/r$SIZE.tif" "$DIR/scenes/$(printf 'scene-%04d.tif' $i)"; done
  RES=$DIR/throughput.tsv
  printf 'tool\tround\twall_s\tcpu_s\tpeak_rss_mib\tscenes\n' >"$RES"
  one() { # TOOL ROUND
    local tool=$1 r=$2 out
    rm -rf "$DIR/table"
    case $tool in
      ingestd) out=$("$B/ingestdbench" run -csv "$DIR/$tool-$r.csv" -log "$DIR/$tool-$r.log" -- \
        "$B/ingestd" --table "$DIR/table" --watch "$DIR/scenes" --once --metrics-addr "") ;;
      base) out=$("$B/ingestdbench" run -csv "$DIR/$tool-$r.csv" -log "$DIR/$tool-$r.log" -- \
        "$BASE_INGESTD" --table "$DIR/table" --watch "$DIR/scenes" --once --metrics-addr "") ;;
      loop) out=$("$B/ingestdbench" run -tree -csv "$DIR/$tool-$r.csv" -log "$DIR/$tool-$r.log" -- \
        bash -c 'for f in "$1"/scenes/*.tif; do "$1"/bin/deltactl ingest "$1"/table "$f" >/dev/null && echo "SCENE DONE" >&2 || exit 1; done' _ "$DIR") ;;
    esac
    local n
    n=$("$B/deltactl" info "$DIR/table" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["numFiles"])')
    python3 - "$tool" "$r" "$out" "$N" "$n" >>"$RES" <<'PY'
import json, sys
tool, r, out, want, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
assert out["scenes"] == want, f"{tool}: {out['scenes']} scenes committed, want {want}"
print(f"{tool}\t{r}\t{out['wallSeconds']:.2f}\t{out['cpuSeconds']:.2f}\t{out['peakRssMiB']:.0f}\t{out['scenes']}")
PY
    tail -1 "$RES" >&2
    rm -rf "$DIR/table"
  }
  read -r -a tools <<<"$TOOLS"
  k=${#tools[@]}
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < k; i++)); do one "${tools[$(((i + r) % k))]}" $r; done
  done
  python3 - "$RES" "$N" <<'PY'
import csv, sys, statistics as st
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
n = int(sys.argv[2])
by = {}
for r in rows:
    by.setdefault(r["tool"], {})[r["round"]] = r
print("| tool | round | wall s | scenes/min | CPU s | CPU s / wall s | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for tool in [t for t in ["ingestd", "loop", "base"] if t in by]:
    for k, r in sorted(by[tool].items()):
        w, c = float(r["wall_s"]), float(r["cpu_s"])
        print(f"| {tool} | {k} | {w:.1f} | {n / w * 60:.0f} | {c:.1f} | {c / w:.2f} | {r['peak_rss_mib']} |")
spm = {t: {k: n / float(r["wall_s"]) * 60 for k, r in by[t].items()} for t in by}
busy = {t: {k: float(r["cpu_s"]) / float(r["wall_s"]) for k, r in by[t].items()} for t in by}
ratios = [spm["ingestd"][k] / spm["loop"][k] for k in spm["ingestd"] if k in spm["loop"]]
print()
print(f"median scenes/min: ingestd {st.median(spm['ingestd'].values()):.0f}, loop {st.median(spm['loop'].values()):.0f}; "
      f"median of the per-round ratios ingestd/loop: {st.median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 1.5)")
print("median CPU s / wall s: " + ", ".join(f"{t} {st.median(busy[t].values()):.2f}" for t in busy))
if "base" in spm:
    rb = [spm["ingestd"][k] / spm["base"][k] for k in spm["ingestd"] if k in spm["base"]]
    print(f"median of the per-round ratios ingestd/base: {st.median(rb):.2f} (rounds: {', '.join(f'{x:.2f}' for x in rb)})")
# Both cores busy while decoding: the sampled CPU of ingestd (cores in use over each 200 ms).
import glob
for t in [t for t in ["ingestd", "base"] if t in by]:
    cores = []
    for f in glob.glob(sys.argv[1].rsplit("/", 1)[0] + f"/{t}-*.csv"):
        cores += [float(r["cpu_cores"]) for r in csv.DictReader(open(f)) if float(r["cpu_cores"]) > 0]
    if cores:
        cores.sort()
        q = lambda p: cores[min(len(cores) - 1, int(p * len(cores)))]
        print(f"{t}: sampled cores in use, median {q(0.5):.2f}, p90 {q(0.9):.2f}, max {cores[-1]:.2f}; "
              f"share of samples above 1.5 cores: {sum(c > 1.5 for c in cores) / len(cores):.0%}")
PY
  ;;
memory)
  FILES=${FILES:-1000000} SMALL=${SMALL:-1000} LARGE=${LARGE:-20} SMALL_SIZE=${SMALL_SIZE:-512} LARGE_SIZE=${LARGE_SIZE:-4000}
  WINDOW=${WINDOW:-500} BATCH=${BATCH:-16} OUT=${OUT:-$HERE/ingestd-memory.csv}
  rasters "$SMALL_SIZE" "$LARGE_SIZE"
  if [ ! -f "$DIR/t$FILES/_bench/gentable.json" ]; then
    rm -rf "$DIR/t$FILES"
    "$B/gentable" -n "$FILES" -raster b1,b2,b3,b4:UInt16 -out "$DIR/t$FILES" >&2
  fi
  rm -rf "$DIR/table" "$DIR/scenes" && mkdir -p "$DIR/table" "$DIR/scenes" && cp -a "$DIR/t$FILES/." "$DIR/table/"
  total=$((SMALL + LARGE)) every=$(((SMALL + LARGE) / (LARGE > 0 ? LARGE : 1)))
  nl=0
  for ((i = 0; i < total; i++)); do
    src=$DIR/gen/src/r$SMALL_SIZE.tif
    if ((LARGE > 0 && i % every == every / 2 && nl < LARGE)); then src=$DIR/gen/src/r$LARGE_SIZE.tif; nl=$((nl + 1)); fi
    ln "$src" "$DIR/scenes/$(printf 'scene-%04d.tif' $i)"
  done
  "$B/ingestdbench" run -every 250ms -csv "$OUT" -log "$DIR/memory.log" -- "$B/ingestd" --table "$DIR/table" --watch "$DIR/scenes" \
    --once --checkpoint-interval 10 --batch-max-sources "$BATCH" --metrics-addr ""
  "$B/ingestdbench" summary -csv "$OUT" -window "$WINDOW"
  "$B/ingestdbench" plot -csv "$OUT" -png "${OUT%.csv}.png"
  grep -c 'ingestd: checkpoint done' "$DIR/memory.log" | sed 's/^/checkpoints: /'
  ;;
*) echo "usage: run-ingestd.sh throughput|memory [DIR]" >&2; exit 2 ;;
esac

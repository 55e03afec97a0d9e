#!/usr/bin/env bash
# Ingest benchmark (issue: raster ingest). Figures go in bench/RESULTS.md.
#
#   bench/run-ingest.sh [DIR]        DIR defaults to /tmp/ingestbench
#
# 1. Builds ingestbench into DIR/bin. Installs the Debian package postgis (raster2pgsql) and
#    time (/usr/bin/time) with apt-get when they are missing: this script only, never make test.
# 2. Makes the rasters DIR/src/rSIZE.tif, SIZE x SIZE pixels, 4 bands UInt16, EPSG:32633, 10 m
#    pixels, tiled 256x256, DEFLATE, pixel-interleaved (GDAL's default), with GDAL tools and
#    awk only, deterministically: a 2048x2048 grid of Park-Miller pseudo-random values 0..4095
#    (awk) is (a) stretched bilinearly over the raster, x8, as a smooth field, and (b) repeated
#    at full resolution, /64, as pixel noise, shifted per band (a mosaic VRT per band); each
#    band is their sum (a VRT "sum" pixel function), translated to GeoTIFF. DEFLATE then does what it does on real
#    scenes without a predictor (about 1.1x here). A raster whose DIR/src/rSIZE.done stamp
#    names the same generator version is reused.
# 3. RUNS rounds (default 5); each round runs, for every size, in an order rotated every round:
#      ours         ingestbench -table DIR/table -tile-size 256 SRC   (fresh table each run)
#      ours-1w      the same with -workers 1 (one decoding worker: what the parallel decode buys)
#      base         the same with BASE_BIN, an ingestbench built from another commit (set BASE_BIN)
#      gdal         GDAL_CACHEMAX=64 gdal_translate -q -of ENVI SRC /dev/shm/ingestbench-x.envi
#      raster2pgsql raster2pgsql -t 256x256 SRC tbl > /dev/null
#      ours-s3      ours with the source and the table in MinIO (s3://ingestbench/...): the
#                   script starts MinIO from the test servers' cache (make servers) on
#                   127.0.0.1:$MINIO_PORT (19000) with its data under DIR/minio, on the same disk
#                   as the local table; the source is uploaded once before the rounds, and each
#                   run's table is deleted after it (not timed)
#      base-s3      ours-s3 with BASE_BIN
#    each under /usr/bin/time -v. While MinIO runs, the CPU seconds it spent during each run
#    (user+sys from /proc/PID/stat) are recorded too: it shares the machine's cores. Wall time is measured by this script around the process (the
#    same clock for the three tools); ours also prints the time it measured around Ingest.
#    Raw figures: DIR/results.tsv.
# 4. Prints a markdown table of medians (seconds, MB/s of raw pixels = width x height x bands x
#    2 bytes / wall seconds / 1e6, CPU seconds, peak RSS) and the ratios against the issue's
#    targets; ratios are medians of the per-round ratios (the runs of one round are side by side).
#
# Environment: RUNS (5), SIZES ("small:2000 large:20000"), TOOLS ("ours ours-1w gdal
# raster2pgsql"), WORKERS (ingestbench -workers for ours, default 0 = the ingest's default),
# BASE_BIN (for the tools base and base-s3), CPU_PROFILE=1 writes DIR/ours-NAME.pprof from one extra,
# unmeasured run of ours per size.
set -euo pipefail

DIR=${1:-/tmp/ingestbench}
RUNS=${RUNS:-5}
SIZES=${SIZES:-"small:2000 large:20000"}
TOOLS=${TOOLS:-"ours ours-1w gdal raster2pgsql"}
WORKERS=${WORKERS:-0}
GEN_VERSION=ingestbench-raster-v2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
export PATH=/usr/local/go/bin:$PATH
TIME=/usr/bin/time
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

need=()
[ -x "$TIME" ] || need+=(time)
case " $TOOLS " in *" raster2pgsql "*) command -v raster2pgsql >/dev/null || need+=(postgis) ;; esac
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
for t in gdal_translate awk python3; do command -v $t >/dev/null || { echo "need $t" >&2; exit 1; }; done

mkdir -p "$DIR/bin" "$DIR/src"
(cd "$ROOT" && go build -o "$DIR/bin/ingestbench" ./bench/cmd/ingestbench)

# MinIO for ours-s3, stopped when the script exits.
MINIO_PORT=${MINIO_PORT:-19000}
case " $TOOLS " in *" ours-s3 "* | *" base-s3 "*)
  minio=${DELTARASTER_SERVERS:-$HOME/.cache/deltaraster/servers}/bin/minio
  [ -x "$minio" ] || { echo "ours-s3 needs MinIO: run make servers" >&2; exit 1; }
  rm -rf "$DIR/minio" && mkdir -p "$DIR/minio"
  MINIO_ROOT_USER=bench MINIO_ROOT_PASSWORD=bench-secret MINIO_BROWSER=off "$minio" server "$DIR/minio" \
    --address 127.0.0.1:$MINIO_PORT --console-address 127.0.0.1:$((MINIO_PORT + 1)) --quiet >"$DIR/minio.log" 2>&1 &
  MINIO_PID=$!
  trap 'kill $MINIO_PID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$MINIO_PORT/minio/health/live >/dev/null && break; sleep 0.2; done
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL=http://127.0.0.1:$MINIO_PORT
  ;;
esac

# noise.tif: the 2048x2048 pseudo-random grid every raster is made from.
noise() {
  local n=2048
  [ -f "$DIR/src/noise.done" ] && grep -qx "$GEN_VERSION" "$DIR/src/noise.done" && return
  awk -v n=$n 'BEGIN {
    print "ncols " n; print "nrows " n; print "xllcorner 0"; print "yllcorner 0"; print "cellsize 1"
    s = 12345
    for (y = 0; y < n; y++) {
      line = ""
      for (x = 0; x < n; x++) { s = (s * 16807) % 2147483647; line = line (x ? " " : "") int(s / 524288) }
      print line
    }
  }' >"$DIR/src/noise.asc"
  gdal_translate -q -ot UInt16 "$DIR/src/noise.asc" "$DIR/src/noise.tif"
  rm -f "$DIR/src/noise.asc"
  echo "$GEN_VERSION" >"$DIR/src/noise.done"
}

# raster SIZE: DIR/src/rSIZE.tif (see 2. above).
raster() {
  local s=$1 out="$DIR/src/r$1.tif"
  [ -f "$DIR/src/r$s.done" ] && grep -qx "$GEN_VERSION" "$DIR/src/r$s.done" && [ -f "$out" ] && { echo "reusing $out" >&2; return; }
  rm -f "$DIR/src/r$s.done" "$out"
  echo "generating $out" >&2
  # The noise of band b: noise.tif repeated over the raster, shifted by (613b, 389b) pixels
  # (a plain mosaic VRT, so GDAL never holds a buffer per repeat).
  local b
  for b in 1 2 3 4; do
    awk -v S="$s" -v b=$b -v src=noise.tif 'BEGIN {
      N = 2048
      printf "<VRTDataset rasterXSize=\"%d\" rasterYSize=\"%d\">\n", S, S
      print "  <VRTRasterBand dataType=\"UInt16\" band=\"1\">"
      for (y = -389 * b; y < S; y += N) for (x = -613 * b; x < S; x += N) {
        printf "    <SimpleSource><SourceFilename relativeToVRT=\"1\">%s</SourceFilename><SourceBand>1</SourceBand>", src
        printf "<SrcRect xOff=\"0\" yOff=\"0\" xSize=\"%d\" ySize=\"%d\"/>", N, N
        printf "<DstRect xOff=\"%d\" yOff=\"%d\" xSize=\"%d\" ySize=\"%d\"/></SimpleSource>\n", x, y, N, N
      }
      print "  </VRTRasterBand>"
      print "</VRTDataset>"
    }' >"$DIR/src/r$s-n$b.vrt"
  done
  # Band b = smooth field + noise/64.
  awk -v S="$s" -v src=noise.tif 'BEGIN {
    printf "<VRTDataset rasterXSize=\"%d\" rasterYSize=\"%d\">\n", S, S
    print "  <SRS>EPSG:32633</SRS>"
    print "  <GeoTransform>300000, 10, 0, 5200000, 0, -10</GeoTransform>"
    ss = int(S / 500); if (ss < 2) ss = 2   # the smooth field: one grid value per 500 pixels
    for (b = 1; b <= 4; b++) {
      printf "  <VRTRasterBand dataType=\"UInt16\" band=\"%d\" subClass=\"VRTDerivedRasterBand\">\n", b
      print "    <PixelFunctionType>sum</PixelFunctionType>"
      print "    <SourceTransferType>Float32</SourceTransferType>"
      printf "    <ComplexSource resampling=\"bilinear\"><SourceFilename relativeToVRT=\"1\">%s</SourceFilename>", src
      printf "<SourceBand>1</SourceBand><SrcRect xOff=\"%d\" yOff=\"%d\" xSize=\"%d\" ySize=\"%d\"/>", 100 * b, 50 * b, ss, ss
      printf "<DstRect xOff=\"0\" yOff=\"0\" xSize=\"%d\" ySize=\"%d\"/><ScaleRatio>8</ScaleRatio></ComplexSource>\n", S, S
      printf "    <ComplexSource><SourceFilename relativeToVRT=\"1\">r%d-n%d.vrt</SourceFilename><SourceBand>1</SourceBand>", S, b
      printf "<SrcRect xOff=\"0\" yOff=\"0\" xSize=\"%d\" ySize=\"%d\"/>", S, S
      printf "<DstRect xOff=\"0\" yOff=\"0\" xSize=\"%d\" ySize=\"%d\"/><ScaleRatio>0.015625</ScaleRatio></ComplexSource>\n", S, S
      print "  </VRTRasterBand>"
    }
    print "</VRTDataset>"
  }' >"$DIR/src/r$s.vrt"
  gdal_translate -q --config GDAL_CACHEMAX 256 -co TILED=YES -co COMPRESS=DEFLATE -co BLOCKXSIZE=256 -co BLOCKYSIZE=256 \
    "$DIR/src/r$s.vrt" "$out.tmp.tif"
  mv "$out.tmp.tif" "$out"
  echo "$GEN_VERSION" >"$DIR/src/r$s.done"
}

noise
for s in $SIZES; do raster "${s##*:}"; done
if [ -n "${MINIO_PID:-}" ]; then
  for s in $SIZES; do "$DIR/bin/ingestbench" -put "s3://ingestbench/src/r${s##*:}.tif" "$DIR/src/r${s##*:}.tif"; done
fi

RES="$DIR/results.tsv"
printf 'size\ttool\tround\tseconds\tcpu_seconds\tmaxrss_kib\traw_bytes\tinner_seconds\tminio_cpu_seconds\n' >"$RES"

# minio_cpu: MinIO's user+sys CPU seconds so far (0 when it does not run).
TICKS=$(getconf CLK_TCK)
minio_cpu() {
  if [ -n "${MINIO_PID:-}" ] && [ -r "/proc/$MINIO_PID/stat" ]; then
    awk -v t="$TICKS" '{sub(/^.*\) /, ""); print ($12 + $13) / t}' "/proc/$MINIO_PID/stat"
  else
    echo 0
  fi
}

# one NAME SIZE TOOL ROUND: run TOOL on DIR/src/rSIZE.tif under time -v, append to results.tsv.
one() {
  local name=$1 size=$2 tool=$3 round=$4 src="$DIR/src/r$2.tif" out tv t0 t1
  local raw=$((size * size * 4 * 2)) inner=""
  out=$(mktemp) tv=$(mktemp)
  rm -rf "$DIR/table" /dev/shm/ingestbench-x.*
  local m0 m1
  m0=$(minio_cpu)
  t0=$(date +%s%N)
  case $tool in
    ours) "$TIME" -v -o "$tv" "$DIR/bin/ingestbench" -table "$DIR/table" -tile-size 256 -workers "$WORKERS" "$src" >"$out" ;;
    ours-s3) "$TIME" -v -o "$tv" "$DIR/bin/ingestbench" -table "s3://ingestbench/table-$round" -tile-size 256 \
      -workers "$WORKERS" -raw-bytes "$raw" "s3://ingestbench/src/r$size.tif" >"$out" ;;
    ours-1w) "$TIME" -v -o "$tv" "$DIR/bin/ingestbench" -table "$DIR/table" -tile-size 256 -workers 1 "$src" >"$out" ;;
    base) "$TIME" -v -o "$tv" "$BASE_BIN" -table "$DIR/table" -tile-size 256 "$src" >"$out" ;;
    base-s3) "$TIME" -v -o "$tv" "$BASE_BIN" -table "s3://ingestbench/table-base-$round" -tile-size 256 \
      -raw-bytes "$raw" "s3://ingestbench/src/r$size.tif" >"$out" ;;
    gdal) GDAL_CACHEMAX=64 "$TIME" -v -o "$tv" gdal_translate -q -of ENVI "$src" /dev/shm/ingestbench-x.envi >"$out" ;;
    raster2pgsql) "$TIME" -v -o "$tv" raster2pgsql -t 256x256 "$src" tbl >/dev/null 2>"$out" ;;
  esac
  t1=$(date +%s%N)
  m1=$(minio_cpu)
  rm -rf "$DIR/table" /dev/shm/ingestbench-x.*
  [ "$tool" != ours-s3 ] || "$DIR/bin/ingestbench" -drop "s3://ingestbench/table-$round"
  [ "$tool" != base-s3 ] || "$DIR/bin/ingestbench" -drop "s3://ingestbench/table-base-$round"
  if [ "$tool" != gdal ] && [ "$tool" != raster2pgsql ]; then
    inner=$(sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p' "$out")
    local got
    got=$(sed -n 's/.*"rawBytes":\([0-9]*\).*/\1/p' "$out")
    [ "$got" = "$raw" ] || { echo "ours on $name: rawBytes $got, want $raw: $(cat "$out")" >&2; exit 1; }
  fi
  local secs rss cpu mcpu
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  mcpu=$(awk -v a="$m0" -v b="$m1" 'BEGIN {printf "%.2f", b - a}')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tv")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$tv")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tool" "$round" "$secs" "$cpu" "$rss" "$raw" "$inner" "$mcpu" >>"$RES"
  printf '%-5s %-12s round %s: %7.2f s %7.2f s CPU %7.1f MiB %7.1f MB/s MinIO %5.2f s CPU %s\n' "$name" "$tool" "$round" "$secs" "$cpu" \
    "$(awk "BEGIN{print $rss/1024}")" "$(awk "BEGIN{print $raw/$secs/1e6}")" "$mcpu" "$(grep -s '^{' "$out" || true)" >&2
  rm -f "$out" "$tv"
}

read -r -a tools <<<"$TOOLS"
k=${#tools[@]}
for ((r = 1; r <= RUNS; r++)); do
  for s in $SIZES; do
    for ((i = 0; i < k; i++)); do
      one "${s%%:*}" "${s##*:}" "${tools[$(((i + r) % k))]}" "$r"
    done
  done
done

if [ "${CPU_PROFILE:-0}" = 1 ]; then
  for s in $SIZES; do
    rm -rf "$DIR/table"
    "$DIR/bin/ingestbench" -table "$DIR/table" -tile-size 256 -workers "$WORKERS" \
      -cpuprofile "$DIR/ours-${s%%:*}.pprof" "$DIR/src/r${s##*:}.tif" >&2
    rm -rf "$DIR/table"
  done
fi

python3 - "$RES" "$SIZES" <<'EOF'
import sys, csv, statistics as st
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
sizes = [(s.split(":")[0], int(s.split(":")[1])) for s in sys.argv[2].split()]
sec, cpu, rss, raw, mcpu = defaultdict(dict), defaultdict(dict), defaultdict(dict), {}, defaultdict(dict)
for r in rows:
    k = (r["size"], r["tool"])
    sec[k][r["round"]] = float(r["seconds"])
    cpu[k][r["round"]] = float(r["cpu_seconds"])
    rss[k][r["round"]] = int(r["maxrss_kib"]) / 1024
    mcpu[k][r["round"]] = float(r["minio_cpu_seconds"])
    raw[r["size"]] = int(r["raw_bytes"])
med = lambda d: st.median(d.values()) if d else None
def ratio(a, b):  # median of the per-round ratios: the runs of one round ran side by side
    rs = [a[k] / b[k] for k in a if k in b]
    return st.median(rs) if rs else None
f = lambda x, p=2: "n/a" if x is None else f"{x:.{p}f}"
tools = ["ours", "ours-s3", "ours-1w", "base", "base-s3", "gdal", "raster2pgsql"]
label = {"ours": "ours (ingest.Ingest)", "ours-s3": "ours, source and table in MinIO", "ours-1w": "ours, 1 worker", "base": "base (BASE_BIN)", "base-s3": "base, source and table in MinIO",
         "gdal": "gdal_translate -of ENVI", "raster2pgsql": "raster2pgsql -t 256x256"}
print("Medians over the rounds. wall: measured around the process; MB/s: raw pixels / wall / 1e6;")
print("CPU: user+sys of the process; peak RSS: maximum resident set size from /usr/bin/time -v;")
print("MinIO CPU: user+sys of the MinIO server during the run.")
print()
print("| raster | raw MB | tool | wall s | MB/s | CPU s | peak RSS MiB | MinIO CPU s | runs |")
print("|---|---|---|---|---|---|---|---|---|")
for name, size in sizes:
    for t in tools:
        k = (name, t)
        if sec[k]:
            mbps = {r: raw[name] / v / 1e6 for r, v in sec[k].items()}
            print(f"| {name} {size}x{size}x4 u16 | {raw[name] / 1e6:.0f} | {label[t]} | {f(med(sec[k]))} | {f(med(mbps), 0)} | "
                  f"{f(med(cpu[k]))} | {f(med(rss[k]), 0)} | {f(med(mcpu[k]))} | {len(sec[k])} |")
print()
print("Throughput ratios (ours / tool, MB/s; medians of the per-round ratios; target >= 1.0):")
print()
for name, size in sizes:
    o = (name, "ours")
    parts = []
    for t in ["gdal", "raster2pgsql", "ours-1w", "base"]:
        k = (name, t)
        if sec[k]:
            parts.append(f"vs {t} {f(ratio(sec[k], sec[o]))}")
    print(f"- {name}: " + ", ".join(parts))
    for loc, rem in [("ours", "ours-s3"), ("base", "base-s3")]:
        l, s3 = (name, loc), (name, rem)
        if sec[l] and sec[s3]:
            print(f"- {name}: {rem} / {loc}, throughput {f(ratio(sec[l], sec[s3]))} (target >= 0.8), "
                  f"peak RSS {f(ratio(rss[s3], rss[l]))} (target <= 1.2); "
                  f"CPU s {f(med(cpu[l]))} local, {f(med(cpu[s3]))} remote + {f(med(mcpu[s3]))} MinIO")
big, small = sizes[-1][0], sizes[0][0]
rb, rs = med(rss[(big, "ours")]), med(rss[(small, "ours")])
print(f"- ours, peak RSS {big} / {small}: {f(rb / rs if rb and rs else None)} (target <= 1.3)")
print(f"- ours, peak RSS: {small} {f(rs, 0)} MiB, {big} {f(rb, 0)} MiB (target < 300 each)")
EOF

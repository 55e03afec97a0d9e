#!/bin/sh
# The steps of `make demo`, one line each:
#
#   sh deploy/demo.sh BIN TABLE
#
# makes a few rasters with GDAL's tools (TABLE-src), ingests them into the local table TABLE with
# BIN/deltactl, ingests again after one changed, exports one back as a COG (TABLE-out.tif),
# optimizes, checkpoints and vacuums the table, then runs ingestd on a watched directory
# (deploy/demo-ingestd.sh, TABLE-ingestd). Each step prints one line, and below it, indented,
# the lines of the command's own output that say what it made; every command's whole output
# goes to TABLE.log, and a failing step prints its own. The demo ends with what was made and
# how to look at it.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 BIN TABLE" >&2; exit 2; }
bin=$1 table=$2
src=$table-src out=$table-out.tif daemon=$table-ingestd log=$table.log
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

rm -rf "$table" "$src" "$out" "$daemon"
: >"$log"

# step DESCRIPTION COMMAND...: print DESCRIPTION, run COMMAND with its output in $tmp and the log;
# when it fails, print that output and stop. An empty DESCRIPTION prints nothing.
step() {
	[ -z "$1" ] || echo "$1"
	shift
	echo "\$ $*" >>"$log"
	if ! "$@" >"$tmp" 2>&1; then
		sed 's/^/    /' "$tmp"
		cat "$tmp" >>"$log"
		echo "demo: failed: $*" >&2
		echo "demo: every command's output is in $log" >&2
		exit 1
	fi
	cat "$tmp" >>"$log"
}

# show [FILTER...]: the last step's output, indented; FILTER (a command reading it) picks lines.
show() {
	if [ $# -eq 0 ]; then
		sed 's/^/    /' "$tmp"
	else
		"$@" <"$tmp" | sed 's/^/    /'
	fi
}

# field NAME: the value of "NAME:" in the last step's output (deltactl info).
field() {
	sed -n "s/^$1: *//p" "$tmp" | head -n 1
}

# scenes: the rasters of testdata/make.sh, and two more of rgb.tif's band layout: its eastern
# neighbour, and a COG with 2 overviews to its south.
scenes() {
	sh testdata/make.sh "$src" &&
		gdal_translate -q -a_ullr 503000 4650000 506000 4648000 "$src/rgb.tif" "$src/rgb-east.tif" &&
		gdal_translate -q -a_ullr 500000 4648000 503000 4646000 -of COG -co BLOCKSIZE=128 \
			-co OVERVIEWS=AUTO -co OVERVIEW_COUNT=2 -co RESAMPLING=NEAREST "$src/rgb.tif" "$src/rgb-south-cog.tif"
}
step "make the scenes with GDAL in $src: rgb.tif, its eastern neighbour rgb-east.tif, and rgb-south-cog.tif (a COG with 2 overviews)" scenes

step "ingest rgb.tif and rgb-east.tif into $table (a new table)" \
	"$bin/deltactl" ingest "$table" "$src/rgb.tif" "$src/rgb-east.tif"
show
step "ingest rgb-south-cog.tif: its full resolution and its 2 overviews" \
	"$bin/deltactl" ingest "$table" "$src/rgb-south-cog.tif"
show
touch "$src/rgb-east.tif"
step "ingest rgb.tif and rgb-east.tif again after rgb-east.tif changed: rgb.tif adds nothing, rgb-east.tif's tiles are replaced" \
	"$bin/deltactl" ingest "$table" "$src/rgb.tif" "$src/rgb-east.tif"
show

step "export rgb-south-cog.tif from the table back to a COG, $out" \
	"$bin/deltactl" export "$table" --source "$src/rgb-south-cog.tif" --out "$out" --format COG
show
step "gdalinfo $out" gdalinfo "$out"
cog=$(awk '
	/^Size is/ { sub(/^Size is /, ""); sub(/, /, "x"); size = $0 }
	/^Band [0-9]+ / { bands++ }
	/^ *Overviews:/ && !ovr { sub(/^ *Overviews: /, ""); ovr = $0 }
	/LAYOUT=COG/ { layout = "COG layout" }
	END { printf "%s pixels, %d bands, overviews %s, %s\n", size, bands, ovr ? ovr : "none", layout ? layout : "not a COG layout" }' "$tmp")
echo "    $cog"

# Maintenance. The demo forces a zero retention so the merged-away files go now; never do that
# beside live readers.
step "optimize: merge the small data files, rows clustered by quadbin" \
	"$bin/deltactl" optimize "$table" --cluster-by quadbin
show
step "checkpoint the table" "$bin/deltactl" checkpoint "$table"
show
step "vacuum --dry-run: what vacuum would delete (retention forced to 1ns for the demo)" \
	"$bin/deltactl" vacuum "$table" --full --dry-run --retention 1ns --force-retention
show tail -n 1
step "vacuum: delete the files no version needs any more" \
	"$bin/deltactl" vacuum "$table" --full --retention 1ns --force-retention
show tail -n 1
step "history of $table" "$bin/deltactl" history "$table"
show awk '{ printf "%-8s %-21s %s\n", $1, $2, $3 }'

step "ingestd: watch $daemon/in, drop the 3 scenes there, stop with SIGTERM" \
	sh deploy/demo-ingestd.sh "$bin" "$daemon" "$src/rgb.tif" "$src/rgb-east.tif" "$src/rgb-south-cog.tif"
show

# made: what deltactl info (the last step) says of a table, in a few words.
made() {
	files=$(field files)
	[ "$files" = 1 ] && files="1 data file" || files="$files data files"
	echo "version $(field version), $(field records) tiles in $files ($(field size))"
}
step "" "$bin/deltactl" info "$table"
made_table="$(made), checkpoint at $(field checkpoint)"
step "" "$bin/deltactl" info "$daemon/table"
made_daemon=$(made)
cat <<EOF

made:
  $table: a Delta table of raster tiles, $made_table
  $out: rgb-south-cog.tif exported back from the table, $cog
  $daemon/table: the table ingestd wrote from the scenes dropped in $daemon/in, $made_daemon
  $src: the scenes; $log: every command's whole output
look at them:
  $bin/deltactl info $table; $bin/deltactl history $table; $bin/deltactl files $table
  $bin/deltactl export $table --source $src/rgb.tif --out rgb.tif; gdalinfo $out
EOF

#!/bin/sh
# The ingestd part of `make demo`, and an example of driving ingestd from a shell:
#
#   sh deploy/demo-ingestd.sh BIN WORK SCENE...
#
# starts BIN/ingestd watching WORK/in (table WORK/table, metrics on a free port), waits until it
# is ready (/readyz), drops the scenes into WORK/in (each through a hidden name and a rename),
# waits until /metrics counts them added, prints the table's history (version, time and
# operation of each commit, from BIN/deltactl) and a few values of /metrics, and stops ingestd with SIGTERM (exit status 0 expected). One line per step;
# ingestd's log is printed only when a step fails. Whatever happens, no ingestd is left running.
set -eu

[ $# -ge 3 ] || { echo "usage: $0 BIN WORK SCENE..." >&2; exit 2; }
bin=$1 work=$2
shift 2
in=$work/in table=$work/table log=$work/ingestd.log
limit=60 # seconds any wait may take before the demo fails

rm -rf "$work"
mkdir -p "$in"
pid=
cleanup() {
	status=$?
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ "$status" != 0 ]; then
		echo "demo-ingestd: failed; ingestd's log ($log):" >&2
		tail -n 20 "$log" >&2 2>/dev/null || true
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# waitfor WHAT COMMAND...: run COMMAND every 0.1 s until it succeeds, at most $limit seconds.
waitfor() {
	what=$1
	shift
	n=0
	until "$@"; do
		n=$((n + 1))
		if [ $n -gt $((limit * 10)) ]; then
			echo "demo-ingestd: $what: not after ${limit}s" >&2
			return 1
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "demo-ingestd: $what: ingestd exited" >&2
			return 1
		fi
		sleep 0.1
	done
}

# Port 0: the kernel picks a free port, which ingestd logs ("addr").
"$bin/ingestd" --table "$table" --watch "$in" --poll 200ms --batch-max-wait 300ms \
	--metrics-addr 127.0.0.1:0 --log-format json 2>"$log" &
pid=$!
addr=
logged_addr() {
	addr=$(sed -n 's/.*"msg":"ingestd: serving[^"]*".*"addr":"\([^"]*\)".*/\1/p' "$log" | head -n 1)
	[ -n "$addr" ]
}
waitfor "the metrics address in the log" logged_addr
waitfor "GET /readyz" curl -sf -o /dev/null "http://$addr/readyz"
echo "ingestd: ready, pid $pid, watching $in, metrics on http://$addr/metrics"

for f in "$@"; do
	name=$(basename "$f")
	cp "$f" "$in/.$name.part"
	mv "$in/.$name.part" "$in/$name"
done
echo "dropped $# scenes into $in"

metric() { # metric NAME_AND_LABELS: its value, or nothing
	curl -sf "http://$addr/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
all_added() {
	[ "$(metric 'deltaraster_ingestd_sources_total{result="added"}')" = "$#" ] &&
		[ "$(metric deltaraster_ingestd_backlog)" = 0 ]
}
waitfor "the scenes committed" all_added "$@"
echo "ingestd: $# scenes added in $(metric deltaraster_ingestd_commits_total) commit(s); the table's history:"
"$bin/deltactl" history "$table" | awk '{ printf "  %-8s %-21s %s\n", $1, $2, $3 }'

echo "/metrics: sources added $(metric 'deltaraster_ingestd_sources_total{result="added"}'), tiles $(metric deltaraster_ingestd_tiles_total)," \
	"commits $(metric deltaraster_ingestd_commits_total), last version $(metric deltaraster_ingestd_last_version)," \
	"backlog $(metric deltaraster_ingestd_backlog)"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 0 ] || { echo "demo-ingestd: ingestd exited $status after SIGTERM, want 0" >&2; exit 1; }
echo "ingestd: stopped by SIGTERM, exit 0"

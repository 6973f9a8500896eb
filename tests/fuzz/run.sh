#!/bin/sh
# Run each libFuzzer harness (or those named) for SECONDS on a working copy
# of its seeds: `sh tests/fuzz/run.sh BUILD SECONDS [NAME...]`, BUILD being
# build/fuzz. New inputs stay in BUILD/corpus/NAME; crashes, leaks and
# timeouts go to BUILD/crashes/NAME, and the run fails if there are any.
# Each line of the summary: NAME, executions, exec/s, crash files.
set -u
build=$1 secs=$2
shift 2
names=${*:-$(cd tests/fuzz && ls fuzz-*.c | sed 's/^fuzz-//; s/\.c$//')}
status=0
for n in $names; do
	case $n in
	import) opts="-max_len=16384";;
	filter) opts="-max_len=1024";;
	config) opts="-max_len=4096";;
	http) opts="-max_len=8192 -timeout=20 -detect_leaks=0";;
	template) opts="-max_len=8192";;
	render) opts="-max_len=16384";;
	*) opts="";;
	esac
	mkdir -p "$build/corpus/$n" "$build/crashes/$n"
	cp -n tests/fuzz/corpus/$n/* "$build/corpus/$n/" 2>/dev/null
	log=$build/fuzz-$n.log
	echo "fuzz-$n: $secs s, $opts (log: $log)"
	"$build/tests/fuzz/fuzz-$n" $opts -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$n/" "$build/corpus/$n" tests/fuzz/corpus/$n \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	found=$(ls "$build/crashes/$n" | wc -l)
	echo "fuzz-$n: exit $rc, ${runs:-?} executions, ${speed:-?}/s, $found crash files"
	[ "$rc" = 0 ] && [ "$found" = 0 ] || status=1
done
exit $status

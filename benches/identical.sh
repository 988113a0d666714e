#!/usr/bin/env bash
# Byte-identity check for engine changes: replay every labelled call input (finals as written, and
# re-streamed live with partials every 1 s and every 0.7 s) through `calma replay`, and either
# record the outputs or compare them with a recording.
#
#   benches/identical.sh record DIR   # outputs of $CALMA into DIR (inputs kept in DIR/inputs)
#   benches/identical.sh check DIR    # replay DIR's inputs again with $CALMA; exit 1 on any change
#
# CALMA defaults to target/release/calma; the live streams come from the `live_stream` example
# (`cargo build --release --example live_stream`; LIVE_STREAM overrides its path). Recording
# with one binary and checking with another is the A/B: e.g. record with main's binary, check
# with the branch's. Only file names are printed on a difference (the blind test calls are not
# to be read).
set -euo pipefail

mode=${1:?usage: identical.sh record|check DIR}
dir=${2:?usage: identical.sh record|check DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
calma=${CALMA:-$root/target/${CARGO_BUILD_PROFILE:-release}/calma}
live=${LIVE_STREAM:-$root/target/release/examples/live_stream}

sources=(tests/calls tests/holdout eval/holdout2 eval/holdout3 eval/blind/dev eval/blind/test
         examples)

case $mode in
record)
    rm -rf "$dir"
    mkdir -p "$dir/inputs" "$dir/out"
    n=0
    for src in "${sources[@]}"; do
        [ -d "$root/$src" ] || continue
        while IFS= read -r f; do
            name=$(echo "${f#"$root"/}" | tr '/' '_')
            name=${name%.jsonl}
            cp "$f" "$dir/inputs/$name.jsonl"
            for every in 1000 700; do
                if "$live" "$f" "$every" > "$dir/inputs/$name.live$every.jsonl"; then :; else
                    rc=$?
                    rm -f "$dir/inputs/$name.live$every.jsonl"
                    # 3: not one whole call (a multi-call file): replayed as written only.
                    [ "$rc" = 3 ] || { echo "live_stream failed on $f" >&2; exit 2; }
                fi
            done
            n=$((n + 1))
        done < <(find "$root/$src" -name '*.jsonl' | sort)
    done
    for f in "$dir"/inputs/*.jsonl; do
        "$calma" replay "$f" > "$dir/out/$(basename "$f" .jsonl).out"
    done
    echo "recorded $(ls "$dir/out" | wc -l) replays of $n call files with $calma into $dir"
    ;;
check)
    [ -d "$dir/inputs" ] || { echo "no recording in $dir" >&2; exit 2; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    bad=0 total=0
    for f in "$dir"/inputs/*.jsonl; do
        b=$(basename "$f" .jsonl)
        "$calma" replay "$f" > "$tmp/$b.out"
        total=$((total + 1))
        if ! cmp -s "$tmp/$b.out" "$dir/out/$b.out"; then
            echo "DIFFERS: $b"
            bad=$((bad + 1))
        fi
    done
    echo "$((total - bad))/$total replays byte-identical ($calma against $dir)"
    [ "$bad" = 0 ]
    ;;
*)
    echo "usage: identical.sh record|check DIR" >&2
    exit 2
    ;;
esac

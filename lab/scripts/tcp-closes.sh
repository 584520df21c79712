#!/bin/sh
# Traces N TCP exchanges of tcp_client and tcp_server (default 20) and
# prints each one's packet count and who closed first, then the tally.
# Needs CAP_NET_RAW like `cargo lab trace` (root, or run it under
# `unshare --user --map-root-user --net`).
#
#     sh lab/scripts/tcp-closes.sh 20
set -eu
runs=${1:-20}
cd "$(dirname "$0")/../.."
cargo build --quiet --package lab
cargo build --quiet --package socket-walkthrough --example tcp_client \
    --example tcp_server
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    target/debug/lab trace tcp | awk -v run="$i" '
        / packets, / { packets = $1 }
        /closed first|reset the connection/ {
            sub(/.*; /, ""); who = $0
        }
        END { printf "run %d: %s packets, %s\n", run, packets, who }'
done | awk '
    { print; count[$3]++; if ($0 ~ /the client closed first/) client++ }
    END {
        printf "%d runs; the client closed first in %d", NR, client
        printf "; packets per exchange:"
        for (n in count) printf " %s (%d runs)", n, count[n]
        printf "\n"
    }'

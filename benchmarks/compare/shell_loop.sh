#!/usr/bin/env bash
# What a competent operator writes without a reconciler: ONE `query -a -b` for the whole
# DPU, the comparison done locally with jq, then one `modify` per drifted VF (only the
# fields that differ) and one `hotplug` per declared hotplug PF whose MAC is absent.
#
# Usage: shell_loop.sh DESIRED_JSON VIRTNET [ARG...]
#   DESIRED_JSON  {"vfs": [{"pf", "vf", "mac", "mtu"}...],
#                  "hotplugs": [{"ib_device", "mac", "mtu", "max_queues", "max_queue_size"}...]}
#   VIRTNET...    the vendor CLI command (e.g. `virtnet`, or the emulator's)
# Run by benchmarks/bench_compare.py.
set -euo pipefail
desired=$1
shift
virtnet=("$@")

# The vendor client may echo the request params as a Python-repr line first: drop it.
plan=$("${virtnet[@]}" query -a -b | grep -v "^{'" | jq -r --slurpfile want "$desired" '
  .devices as $devs
  | ($devs | map(select(.vf_id != null) | {key: "\(.pf_id)/\(.vf_id)", value: .})
           | from_entries) as $slot
  | ($devs | map(.mac | ascii_downcase)) as $macs
  | $want[0]
  | (.vfs[] as $w
     | $slot["\($w.pf)/\($w.vf)"] // empty
     | . as $c
     | [ (if (.mac | ascii_downcase) != ($w.mac | ascii_downcase) then "-m", $w.mac
          else empty end),
         (if (.mtu | tonumber) != $w.mtu then "-t", ($w.mtu | tostring) else empty end) ]
     | select(length > 0)
     | ["modify", "-u", $c.vuid, "device"] + .),
    (.hotplugs[]
     | (.mac | ascii_downcase) as $m
     | select(any($macs[]; . == $m) | not)
     | ["hotplug", "-i", .ib_device, "-m", .mac, "-t", (.mtu | tostring),
        "-n", (.max_queues | tostring), "-s", (.max_queue_size | tostring)])
  | @tsv')

calls=0
while IFS=$'\t' read -r -a call; do
    [[ ${#call[@]} -eq 0 ]] && continue
    "${virtnet[@]}" "${call[@]}" > /dev/null
    calls=$((calls + 1))
done <<< "$plan"
echo "calls=$calls"

#!/usr/bin/env bash
# The same idempotent work as a plain shell loop: query each device, parse with jq,
# modify when the MAC or MTU differs.
# Usage: shell_loop.sh VIRTNET_EMU DESIRED_TSV   (TSV lines: vuid<TAB>mac<TAB>mtu)
set -euo pipefail
emu=$1
desired=$2
changed=0
while IFS=$'\t' read -r vuid mac mtu; do
    current=$("$emu" query -u "$vuid" -b | tail -n +2 | jq -r '.devices[0] | "\(.mac|ascii_downcase) \(.mtu)"')
    if [[ "$current" != "${mac,,} $mtu" ]]; then
        "$emu" modify -u "$vuid" device -m "$mac" -t "$mtu" > /dev/null
        changed=$((changed + 1))
    fi
done < "$desired"
echo "changed=$changed"

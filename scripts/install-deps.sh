#!/usr/bin/env bash
# scripts/install-deps.sh — installs the Debian packages listed in
# scripts/packages.txt that are not installed yet. Does nothing (and needs
# no root) when all are present; the Makefile calls it before building.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
missing=()
while read -r pkg; do
	pkg=${pkg%%#*}
	pkg=$(echo "$pkg" | tr -d '[:space:]')
	[ -z "$pkg" ] && continue
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$pkg")
	fi
done <"$here/packages.txt"

[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

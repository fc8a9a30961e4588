#!/usr/bin/env bash
# scripts/install-deps.sh — installs the Debian packages listed in
# scripts/packages.txt that are not installed yet, then the Node.js client
# libraries of tests/clients/ (package-lock.json) with `npm ci`. Does
# nothing (and needs no root) when all are present; the Makefile calls it
# before building. A package line may name a command after the package:
# that package counts as present when the command exists, from whatever
# source (a Node.js installed outside Debian brings its own npm, and
# Debian's npm must not be installed over it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
missing=()
while read -r pkg cmd _; do
	pkg=${pkg%%#*}
	[ -z "$pkg" ] && continue
	case $cmd in \#*) cmd="" ;; esac
	if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
		continue
	fi
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$pkg")
	fi
done <"$here/packages.txt"

if [ ${#missing[@]} -ne 0 ]; then
	echo "installing missing packages: ${missing[*]}"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The client libraries the clients suite runs, at the lockfile's versions:
# installed when node_modules is missing or the lockfile has changed since
# the last install (a copy of it is kept in node_modules), so make test
# runs offline once this has run.
clients="$here/../tests/clients"
if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.keel-package-lock.json"; then
	echo "installing the Node.js client libraries of tests/clients (npm ci)"
	(cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$clients/package-lock.json" "$clients/node_modules/.keel-package-lock.json"
fi

#!/usr/bin/env bash
# Refreshes the vendored uPlot (the HTML report's charts, src/export/html/) from npm:
#   vendor/uplot/refresh.sh 1.6.32
# fetches `uplot@VERSION` with `npm pack` (no install, no build step), copies its minified
# IIFE build, its CSS and its licence here, and records the version and the tarball's
# integrity in VERSION. The files are included at compile time (include_str!), so commit them;
# then rebuild and run `cargo test --test html` (and tests/browser) before committing.
set -euo pipefail
version="${1:?usage: vendor/uplot/refresh.sh VERSION (e.g. 1.6.32)}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "uplot@${version}" >/dev/null
tar xzf "uplot-${version}.tgz"
cp package/dist/uPlot.iife.min.js "$here/uPlot.iife.min.js"
cp package/dist/uPlot.min.css "$here/uPlot.min.css"
cp package/LICENSE "$here/LICENSE"
{
  echo "uplot ${version}"
  echo "source: npm pack uplot@${version}"
  echo "sha256 of the tarball: $(sha256sum "uplot-${version}.tgz" | cut -d' ' -f1)"
} >"$here/VERSION"
echo "uPlot ${version} vendored in ${here}"

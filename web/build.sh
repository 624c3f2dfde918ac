#!/usr/bin/env bash
# Rebuild the third-party browser code promhub's console serves from the pinned npm
# packages (package-lock.json) into promhub/web/static/vendor/. The output is committed, so
# `pip install .` ships it and the console needs neither npm nor the internet at run time;
# run this only to upgrade uPlot or CodeMirror.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
out=../promhub/web/static/vendor
mkdir -p "$out"
npx esbuild src/editor.js --bundle --format=esm --minify --legal-comments=none --outfile="$out/editor.js"
npx esbuild node_modules/uplot/dist/uPlot.esm.js --minify --format=esm --outfile="$out/uPlot.esm.js"
cp node_modules/uplot/dist/uPlot.min.css "$out/uPlot.min.css"
# One file with every bundled package's licence text.
node licenses.mjs > "$out/LICENSES.txt"

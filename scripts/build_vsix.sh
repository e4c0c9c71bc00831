#!/usr/bin/env bash
# Build the VS Code extension: install its locked dependencies, type-check,
# bundle it into one file (esbuild), run its tests (the bundle loads and needs
# only `vscode`; the grammar assertions under VS Code's own tokenizer), and
# package the .vsix (@vscode/vsce). Prints the package's size and file count.
# Usage: scripts/build_vsix.sh [OUT_DIR]   (default: editors/vscode)
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"
out="$(cd "${1:-.}" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
    echo "error: the extension needs Node.js 20 or newer with npm (apt-get install nodejs npm)" >&2
    exit 2
fi
npm ci --no-audit --no-fund --loglevel=error
npm test
version="$(node -p "require('./package.json').version")"
vsix="$out/caic-const-$version.vsix"
npx --no-install vsce package --allow-missing-repository --skip-license --no-dependencies -o "$vsix" >/dev/null
files="$(python3 -c "import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))" "$vsix")"
echo "built $vsix: $(wc -c <"$vsix") bytes, $files files"

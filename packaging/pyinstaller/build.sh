#!/usr/bin/env bash
# Build the one-folder desktop bundle and smoke-test it.
#
#   packaging/pyinstaller/build.sh            # build + smoke test
#   packaging/pyinstaller/build.sh --no-build # smoke-test an existing bundle
#
# Output: packaging/pyinstaller/dist/flowdesk/ (run dist/flowdesk/flowdesk),
# with share/applications/flowdesk.desktop and share/icons/hicolor/*/apps/
# flowdesk.png for a desktop install. PYTHON picks the interpreter (default:
# the repository's .venv, else python3); PyInstaller is installed into it
# when missing.
#
# The smoke test runs the bundle, not the source tree: --version, --help, and
# an offscreen --screenshot after a demo flow has run to the end on the
# embedded backend (in-memory broker, database and Qt settings in a temporary
# directory, so it touches neither a Redis server nor the user's data).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIST="$HERE/dist"
BUNDLE="$DIST/flowdesk"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

build() {
    if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
        echo "== installing PyInstaller into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
        "$PYTHON" -m pip install --quiet "pyinstaller>=6.0"
    fi
    local started=$SECONDS
    echo "== building $BUNDLE"
    (cd "$ROOT" && "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$HERE/build" "$HERE/flowdesk.spec")
    echo "== desktop entry and icons"
    mkdir -p "$BUNDLE/share/applications"
    cp "$ROOT/packaging/linux/flowdesk.desktop" "$BUNDLE/share/applications/"
    QT_QPA_PLATFORM=offscreen "$PYTHON" "$ROOT/packaging/linux/render_icons.py" \
        --out "$BUNDLE/share/icons/hicolor"
    echo "== built in $((SECONDS - started)) s"
}

smoke() {
    local scratch
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' RETURN
    echo "== smoke test: --version"
    local version
    version="$("$BUNDLE/flowdesk" --version)"
    echo "$version"
    [[ "$version" == "flowdesk "[0-9]* && "$version" != *unknown* ]] || {
        echo "unexpected version line: $version" >&2; return 1; }
    echo "== smoke test: --help"
    "$BUNDLE/flowdesk" --help | grep -q -- "--screenshot"
    echo "== smoke test: --screenshot --demo (offscreen, embedded backend, in-memory broker)"
    env QT_QPA_PLATFORM=offscreen XDG_CONFIG_HOME="$scratch/config" \
        FLOWDESK_DB="$scratch/flowdesk.db" FLOWDESK_IN_MEMORY_BROKER=true \
        timeout 180 "$BUNDLE/flowdesk" --screenshot "$scratch/shot.png" --demo
    "$PYTHON" - "$scratch/shot.png" <<'EOF'
import struct
import sys

with open(sys.argv[1], "rb") as f:
    head = f.read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", head[16:24])
assert width >= 400 and height >= 300, (width, height)
print(f"screenshot {width}x{height}")
EOF
    if [[ -n "${SCREENSHOT_OUT:-}" ]]; then cp "$scratch/shot.png" "$SCREENSHOT_OUT"; fi
    echo "== smoke test passed; bundle size: $(du -sh "$BUNDLE" | cut -f1)"
}

if [[ "${1:-}" != "--no-build" ]]; then build; fi
smoke

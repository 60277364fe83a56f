#!/usr/bin/env bash
# Builds the web app into frontend/dist: WASM (release), wasm-bindgen glue, optional
# wasm-opt, content-hashed file names under dist/assets, and index.html pointing at them.
# Installs what it needs once (wasm32 target, the wasm-bindgen-cli matching Cargo.lock,
# npm binaryen) into a tools folder that survives clean clones.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS=${MOAT_TOOLS_DIR:-${HOME:-/root}/.cache/moat/tools}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$TOOLS"

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
have=$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want into $TOOLS (once; takes a few minutes)"
  cargo install wasm-bindgen-cli --version "$want" --root "$TOOLS" --force
fi

cargo build --profile wasm --target wasm32-unknown-unknown -p moat-frontend
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
"$TOOLS/bin/wasm-bindgen" --target web --no-typescript --out-dir "$stage" \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm/moat-frontend.wasm"

# Optional size step: npm's binaryen (Debian's wasm-opt 108 corrupts the module).
WASM_OPT="$TOOLS/binaryen/node_modules/.bin/wasm-opt"
if [ ! -x "$WASM_OPT" ] && command -v npm >/dev/null; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/binaryen" binaryen@132 >/dev/null 2>&1 || true
fi
if [ -x "$WASM_OPT" ]; then
  if "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
       --enable-reference-types --enable-multivalue --enable-mutable-globals \
       "$stage/moat-frontend_bg.wasm" -o "$stage/opt.wasm"; then
    mv "$stage/opt.wasm" "$stage/moat-frontend_bg.wasm"
  else
    echo "wasm-opt failed; keeping the unoptimised module" >&2
  fi
fi

hash() { sha256sum "$1" | cut -c1-16; }
out=frontend/dist
rm -rf "$out.new" && mkdir -p "$out.new/assets"
wasm="moat-frontend_bg-$(hash "$stage/moat-frontend_bg.wasm").wasm"
js="moat-frontend-$(hash "$stage/moat-frontend.js").js"
css="app-$(hash frontend/static/app.css).css"
cp "$stage/moat-frontend_bg.wasm" "$out.new/assets/$wasm"
cp "$stage/moat-frontend.js" "$out.new/assets/$js"
cp frontend/static/app.css "$out.new/assets/$css"
printf 'import init from "/assets/%s";\ninit({ module_or_path: "/assets/%s" });\n' "$js" "$wasm" > "$stage/boot.js"
boot="boot-$(hash "$stage/boot.js").js"
cp "$stage/boot.js" "$out.new/assets/$boot"
sed -e "s/{{CSS}}/$css/" -e "s/{{BOOT}}/$boot/" frontend/index.html > "$out.new/index.html"
rm -rf "$out" && mv "$out.new" "$out"
size=$(gzip -9 -c "$out/assets/$wasm" | wc -c)
echo "SPA built into $out: $wasm ($(wc -c < "$out/assets/$wasm") bytes, $size gzipped)"

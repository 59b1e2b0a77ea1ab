#!/usr/bin/env bash
# Builds dist/out/dataforge-<version>-<target>.tar.gz: the binary, desktop entry and icon.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dataforge-target}"
cargo build --release --locked
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target=$(rustc -vV | sed -n 's/^host: //p')
stage=$(mktemp -d)
name="dataforge-$version-$target"
mkdir -p "$stage/$name/share/applications" "$stage/$name/share/icons/hicolor/256x256/apps" "$stage/$name/bin"
cp "$CARGO_TARGET_DIR/release/dataforge" "$stage/$name/bin/"
cp dist/dataforge.desktop "$stage/$name/share/applications/"
cp assets/icon.png "$stage/$name/share/icons/hicolor/256x256/apps/dataforge.png"
cp README.md "$stage/$name/"
mkdir -p dist/out
tar -C "$stage" -czf "dist/out/$name.tar.gz" "$name"
rm -rf "$stage"
echo "dist/out/$name.tar.gz"

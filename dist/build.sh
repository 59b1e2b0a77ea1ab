#!/usr/bin/env bash
# Builds the installers into dist/out/:
#   dataforge_<version>-1_<arch>.deb, dataforge-<version>-1.<arch>.rpm and a portable
#   dataforge-<version>-<target>.tar.gz (binary, desktop entry, icons, man page, completions,
#   README and the licenses of all code built in).
# Needs a Rust toolchain and python3; installs cargo-deb and cargo-generate-rpm when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dataforge-target}"
for tool in cargo-deb cargo-generate-rpm; do
    command -v "$tool" >/dev/null || CARGO_TARGET_DIR=$(mktemp -d) cargo install --locked --quiet "$tool"
done

cargo build --release --locked
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target=$(rustc -vV | sed -n 's/^host: //p')
files=dist/out/files
rm -rf "$files"
mkdir -p "$files"
"$CARGO_TARGET_DIR/release/dataforge" package-files "$files"
python3 dist/licenses.py "$files/THIRD-PARTY-LICENSES.txt"
strip -o "$files/dataforge" "$CARGO_TARGET_DIR/release/dataforge"
gzip -9n -c "$files/dataforge.1" > "$files/dataforge.1.gz"

cargo deb --no-build --no-strip --output dist/out/
cargo generate-rpm --output dist/out/

name="dataforge-$version-$target"
stage=$(mktemp -d)
root="$stage/$name"
mkdir -p "$root/bin" "$root/share/applications" "$root/share/metainfo" "$root/share/man/man1" "$root/share/doc/dataforge"
cp "$files/dataforge" "$root/bin/"
cp "$files/dataforge.desktop" "$root/share/applications/"
cp "$files/dataforge.metainfo.xml" "$root/share/metainfo/"
cp "$files/dataforge.1.gz" "$root/share/man/man1/"
cp -r "$files/icons" "$files/completions" "$root/share/"
cp README.md LICENSE "$files/THIRD-PARTY-LICENSES.txt" "$root/share/doc/dataforge/"
tar -C "$stage" -czf "dist/out/$name.tar.gz" "$name"
rm -rf "$stage"
ls -l dist/out/*.deb dist/out/*.rpm dist/out/*.tar.gz

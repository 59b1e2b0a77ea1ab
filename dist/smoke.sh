#!/usr/bin/env bash
# Smoke test of the .deb in dist/out (dist/build.sh makes it), as a user meets it:
# install with dpkg and check every file landed; start the installed /usr/bin/dataforge under
# Xvfb, time start to first frame and screenshot it (it must not be blank); open a file as the
# desktop entry does (`dataforge open FILE`), import it with Enter and see the table; quit;
# remove the package and check it left nothing behind. Figures go to dist/out/smoke.txt and
# the screenshots to dist/out/smoke-*.png. Run as root (it installs the package).
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls -t dist/out/dataforge_*.deb | head -1)
fail() { echo "smoke: $*" >&2; exit 1; }
missing=()
for tool in Xvfb xdotool convert; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq xvfb xdotool imagemagick >/dev/null
fi
out=dist/out
report=$out/smoke.txt
: > "$report"

dpkg -i "$deb" >/dev/null
while read -r f; do
    [ -e "$f" ] || fail "dpkg -L lists $f but it is not there"
done < <(dpkg -L dataforge)
for f in /usr/bin/dataforge /usr/share/applications/dataforge.desktop /usr/share/metainfo/dataforge.metainfo.xml \
         /usr/share/man/man1/dataforge.1.gz /usr/share/bash-completion/completions/dataforge \
         /usr/share/doc/dataforge/THIRD-PARTY-LICENSES.txt /usr/share/doc/dataforge/copyright; do
    [ -e "$f" ] || fail "$f was not installed"
done
for size in 16 24 32 48 64 128 256 512; do
    [ -e "/usr/share/icons/hicolor/${size}x${size}/apps/dataforge.png" ] || fail "no ${size}px icon"
done
echo "installed: $(dpkg -L dataforge | wc -l) paths, $(du -sh /usr/bin/dataforge | cut -f1) binary; $(/usr/bin/dataforge --version)" | tee -a "$report"
echo "package: $(du -h "$deb" | cut -f1) $(basename "$deb")" | tee -a "$report"

work=$(mktemp -d)
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
export DISPLAY=$display HOME=$work XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
sleep 1

# Keys go to the focused window; without a window manager it is given focus first.
press() { # window keys
    xdotool windowfocus --sync "$1" 2>/dev/null || true
    sleep 0.3
    xdotool key "$2"
}

wait_for() { # pattern file seconds
    for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

RUST_LOG=dataforge=info /usr/bin/dataforge --workspace "$work/ws.duckdb" >"$work/first.log" 2>&1 &
app=$!
wait_for "first frame" "$work/first.log" 20 || fail "no first frame in 20 s: $(cat "$work/first.log")"
first=$(sed -n 's/.*first frame \([0-9]*\) ms after start.*/\1/p' "$work/first.log" | head -1)
sleep 2
import -window root "$out/smoke-first-frame.png"
spread=$(convert "$out/smoke-first-frame.png" -format "%[fx:standard_deviation]" info:)
awk -v s="$spread" 'BEGIN { exit !(s > 0.02) }' || fail "the first frame is blank (spread $spread)"
rss=$(ps -o rss= -p "$app" | tr -d ' ')
cpu_before=$(awk '{print $14 + $15}' "/proc/$app/stat")
sleep 5
cpu_after=$(awk '{print $14 + $15}' "/proc/$app/stat")
echo "start to first frame: ${first} ms; idle RSS $((rss / 1024)) MB; idle CPU $(( (cpu_after - cpu_before) * 100 / $(getconf CLK_TCK) / 5 )) % over 5 s" | tee -a "$report"
window=$(xdotool search --sync --name dataforge | head -1)
press "$window" ctrl+q
for _ in $(seq 1 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && fail "Ctrl+Q did not quit"

cp assets/sample/penguins.csv "$work/penguins.csv"
RUST_LOG=dataforge=info /usr/bin/dataforge --workspace "$work/ws.duckdb" open "$work/penguins.csv" >"$work/open.log" 2>&1 &
app=$!
wait_for "first frame" "$work/open.log" 20 || fail "no first frame opening a file"
window=$(xdotool search --sync --name dataforge | head -1)
sleep 3
press "$window" Return
sleep 4
import -window root "$out/smoke-open.png"
press "$window" ctrl+q
for _ in $(seq 1 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && fail "Ctrl+Q did not quit"
/usr/bin/dataforge --workspace "$work/ws.duckdb" tables | grep -q "penguins .*344" || fail "opening a file did not import it: $(/usr/bin/dataforge --workspace "$work/ws.duckdb" tables)"
echo "dataforge open FILE: imported penguins (344 rows) and showed it" | tee -a "$report"

listed=$(dpkg -L dataforge | grep -v '^/\.$')
dpkg -r dataforge >/dev/null
left=0
while read -r f; do
    [ -f "$f" ] && { echo "left behind: $f" >&2; left=1; }
done <<< "$listed"
[ $left -eq 0 ] || fail "dpkg -r left files behind"
echo "dpkg -r: nothing left behind" | tee -a "$report"

#!/usr/bin/env python3
"""Writes the licenses of all code built into the dataforge binary to one text file.

Every crate the binary links (normal dependencies of the host build, as `cargo tree` lists
them) with its declared license and the license files it ships, then DuckDB, which
libduckdb-sys bundles as a source archive without its own license files.
Usage: dist/licenses.py OUT_FILE
"""
import json
import os
import subprocess
import sys
import tarfile

out = sys.argv[1]
tree = subprocess.run(
    ["cargo", "tree", "--locked", "-e", "normal", "--prefix", "none", "--format", "{p}"],
    check=True, capture_output=True, text=True).stdout
linked = set()
for line in tree.splitlines():
    parts = line.replace(" (*)", "").split()
    if len(parts) >= 2:
        linked.add((parts[0], parts[1].lstrip("v")))
meta = json.loads(subprocess.run(["cargo", "metadata", "--locked", "--format-version", "1"],
                                 check=True, capture_output=True, text=True).stdout)
sections = []
duckdb_dir = None
for pkg in sorted(meta["packages"], key=lambda p: (p["name"], p["version"])):
    if (pkg["name"], pkg["version"]) not in linked or pkg["name"] == "dataforge":
        continue
    root = os.path.dirname(pkg["manifest_path"])
    if pkg["name"] == "libduckdb-sys":
        duckdb_dir = root
    texts = []
    for name in sorted(os.listdir(root)):
        if name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE", "COPYRIGHT")):
            path = os.path.join(root, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    texts.append(f"--- {name} ---\n{f.read().strip()}\n")
    header = f"{pkg['name']} {pkg['version']} — {pkg.get('license') or 'see its license file'}"
    body = "\n".join(texts) if texts else "(no license file shipped; the declared license above applies)\n"
    sections.append(f"{'=' * 78}\n{header}\n{pkg.get('repository') or ''}\n\n{body}")

duckdb_note = ""
if duckdb_dir:
    bundled = []
    with tarfile.open(os.path.join(duckdb_dir, "duckdb.tar.gz")) as t:
        for m in t.getmembers():
            p = m.name.split("/")
            if len(p) == 3 and p[1] == "third_party" and m.isdir():
                bundled.append(p[2])
    duckdb_note = (
        f"{'=' * 78}\nDuckDB (bundled by libduckdb-sys) — MIT\nhttps://github.com/duckdb/duckdb\n\n"
        "Copyright 2018-2025 Stichting DuckDB Foundation. Permission is hereby granted, free of charge, "
        "to any person obtaining a copy of this software and associated documentation files, under the "
        "terms of the MIT license (as in the libduckdb-sys section above). DuckDB bundles these third-party "
        "libraries, each under its own permissive license as listed in DuckDB's repository: "
        + ", ".join(sorted(bundled)) + ".\n")

with open(out, "w", encoding="utf-8") as f:
    f.write("Licenses of the code built into dataforge\n\n")
    f.write("\n".join(sections))
    f.write(duckdb_note)
print(f"{out}: {len(sections)} crates and DuckDB")

#!/usr/bin/env python3
"""Writes a copy of `cargo metadata` output with one crate's version replaced, so that
the advisory check can be shown to fail on a known-vulnerable version.

Usage: plant_crate.py METADATA_IN METADATA_OUT CRATE VERSION
"""

import json
import sys

source, target, crate, version = sys.argv[1:5]
text = open(source, encoding="utf-8").read()
current = [p for p in json.loads(text)["packages"] if p["name"] == crate]
if len(current) != 1:
    sys.exit(f"expected one {crate} in the crate graph, found {len(current)}")
metadata = json.loads(text.replace(f"{crate}@{current[0]['version']}", f"{crate}@{version}"))
for package in metadata["packages"]:
    if package["name"] == crate:
        package["version"] = version
    for dependency in package["dependencies"]:
        if dependency["name"] == crate:
            dependency["req"] = "*"
with open(target, "w", encoding="utf-8") as out:
    json.dump(metadata, out)

#!/usr/bin/env python3
"""The repository check: the repository documents itself and points only at itself.

It fails when
  - a tracked file outside `.ci/` names a file outside the repository (a sibling
    checkout, a brief that is not in the repository) or the machines the project is
    built on (CI's own entry point, `.ci/`, is the one place that may);
  - a relative Markdown link points at a file that does not exist, leaves the
    repository, or names a heading (`#anchor`) the target file does not have;
  - README.md is longer than the front door it is meant to be (200 lines);
  - the release is not one version: the workspace's (Cargo.toml), the images' labels
    (Dockerfile) and the newest release in CHANGELOG.md must agree.

Usage:
  tests/repo/check.py [ROOT]     check the repository at ROOT (default: this checkout)
  tests/repo/check.py --self-test
                                 plant each kind of mistake in a throwaway repository and
                                 fail unless every one is caught (and a clean one passes)

Prints libtest-style lines (`test result: ok. N passed; M failed`) so the test
command can sum them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

README_MAX_LINES = 200

# What no file a user clones may name: the project's brief and its sibling folders live
# beside the repository, not in it; nor may a file speak of the machines it is built on.
# The two names are spelt in pieces so that this file does not name them itself.
BRIEF = "SPEC" + ".md"
SIBLINGS = "../" + "shared"
OUTSIDE_REFERENCES = [
    (re.compile(r"\b" + re.escape(BRIEF) + r"\b"), f"names {BRIEF}, which is not in the repository"),
    (re.compile(re.escape(SIBLINGS) + r"\b"), f"names {SIBLINGS}, which is outside the repository"),
    (re.compile(r"(?<![\w.])/work/"), "names an absolute path of the build machine"),
    (re.compile(r"\bour machines?\b", re.I), "speaks of the machines the project is built on"),
    (re.compile(r"\bthe workplace\b", re.I), "speaks of the machines the project is built on"),
]

# Only CI's entry point may point at the advisory snapshot beside the checkout. An
# applied migration is never edited, not even a comment: refinery records a checksum of
# its whole text in every database, and a changed file stops the next start.
EXEMPT_PREFIXES = (".ci/", "services/posts-service/migrations/")

MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE_LINK = re.compile(r"!\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def read_text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "-_ " or cat[0] in "LN" or cat == "Mn":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def markdown_lines_outside_code(text: str):
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def anchors_of(text: str) -> set[str]:
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in markdown_lines_outside_code(text):
        m = HEADING.match(line)
        if m:
            base = github_anchor(m.group(2))
            n = counts.get(base, 0)
            anchors.add(base if n == 0 else f"{base}-{n}")
            counts[base] = n + 1
        anchors.update(EXPLICIT_ANCHOR.findall(line))
    return anchors


def check_outside_references(root: Path, files: list[str]) -> list[str]:
    problems = []
    for rel in files:
        if rel.startswith(EXEMPT_PREFIXES) or rel == "tests/repo/check.py":
            continue
        text = read_text(root / rel)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for pattern, why in OUTSIDE_REFERENCES:
                if pattern.search(line):
                    problems.append(f"{rel}:{number}: {why}: {line.strip()[:120]}")
    return problems


def check_markdown_links(root: Path, files: list[str]) -> list[str]:
    problems = []
    tracked = set(files)
    anchor_cache: dict[str, set[str]] = {}

    def anchors_for(rel: str) -> set[str]:
        if rel not in anchor_cache:
            anchor_cache[rel] = anchors_of(read_text(root / rel) or "")
        return anchor_cache[rel]

    for rel in files:
        if not rel.endswith(".md"):
            continue
        text = read_text(root / rel)
        if text is None:
            continue
        for number, line in markdown_lines_outside_code(text):
            line = re.sub(r"`[^`]*`", "", line)  # a link inside code is not a link
            for m in list(MARKDOWN_LINK.finditer(line)) + list(IMAGE_LINK.finditer(line)):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # http:, https:, mailto: …
                path_part, _, anchor = target.partition("#")
                where = f"{rel}:{number}"
                if path_part:
                    resolved = os.path.normpath(os.path.join(os.path.dirname(rel), path_part))
                    if resolved.startswith(".."):
                        problems.append(f"{where}: link leaves the repository: {target}")
                        continue
                    exists = (root / resolved).exists() and (
                        resolved in tracked
                        or any(f.startswith(resolved.rstrip("/") + "/") for f in tracked)
                    )
                    if not exists:
                        problems.append(f"{where}: link to a missing file: {target}")
                        continue
                else:
                    resolved = rel
                if anchor and resolved.endswith(".md"):
                    if anchor not in anchors_for(resolved):
                        problems.append(f"{where}: link to a missing heading: {target}")
    return problems


def check_readme_length(root: Path, files: list[str]) -> list[str]:
    if "README.md" not in files:
        return ["README.md: missing"]
    lines = (read_text(root / "README.md") or "").count("\n")
    if lines > README_MAX_LINES:
        return [f"README.md: {lines} lines, more than the {README_MAX_LINES} a front door may have"]
    return []


def check_one_version(root: Path, files: list[str]) -> list[str]:
    def first(pattern: str, rel: str) -> str | None:
        m = re.search(pattern, read_text(root / rel) or "", re.M)
        return m.group(1) if m else None

    found = {
        "Cargo.toml [workspace.package]": first(r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', "Cargo.toml"),
        "Dockerfile ARG VERSION": first(r"^ARG VERSION=(\S+)", "Dockerfile"),
        "CHANGELOG.md's newest release": first(r"^## \[(\d[^\]]*)\]", "CHANGELOG.md"),
    }
    missing = [where for where, v in found.items() if v is None]
    if missing:
        return [f"no version found in {', '.join(missing)}"]
    if len(set(found.values())) > 1:
        return ["the versions differ: " + ", ".join(f"{w} {v}" for w, v in found.items())]
    return []


CHECKS = [
    ("no file names anything outside the repository", check_outside_references),
    ("every relative Markdown link resolves", check_markdown_links),
    ("the README is a front door", check_readme_length),
    ("the release has one version", check_one_version),
]


def run_checks(root: Path) -> dict[str, list[str]]:
    files = tracked_files(root)
    return {name: check(root, files) for name, check in CHECKS}


def report(results: dict[str, list[str]]) -> int:
    failed = 0
    for name, problems in results.items():
        if problems:
            failed += 1
            print(f"test repo::{name} ... FAILED")
            for p in problems:
                print(f"    {p}")
        else:
            print(f"test repo::{name} ... ok")
    passed = len(results) - failed
    status = "ok" if failed == 0 else "FAILED"
    print(f"test result: {status}. {passed} passed; {failed} failed; 0 ignored")
    return 1 if failed else 0


# ------------------------------------------------------------------ self-test --

CLEAN_REPO = {
    "README.md": "# Demo\n\nSee [the docs](docs/guide.md#running-it) and [a file](src/main.rs).\n",
    "docs/guide.md": "# Guide\n\n## Running it\n\nBack to [the top](#guide) or [home](../README.md).\n",
    "src/main.rs": "fn main() {}\n",
    ".ci/run": f"ADVISORY_DB={SIBLINGS}/advisory-db scripts/test.sh\n",
    "Cargo.toml": '[workspace]\nmembers = []\n\n[workspace.package]\nversion = "1.2.0"\n',
    "Dockerfile": "ARG VERSION=1.2.0\nFROM scratch\n",
    "CHANGELOG.md": "# Changelog\n\n## [Unreleased]\n\n## [1.2.0] - 2026-01-01\n",
}

# (name, files to add or replace, the check that must catch it, a word its message has)
PLANTED = [
    ("brief named in code", {"src/lib.rs": f"//! See {BRIEF} for the rules.\n"},
     "no file names anything outside the repository", BRIEF),
    ("sibling folder named", {"docs/extra.md": f"Run {SIBLINGS}/tools/x.py first.\n"},
     "no file names anything outside the repository", SIBLINGS),
    ("build machines named", {"docs/extra.md": "On our machines this takes a minute.\n"},
     "no file names anything outside the repository", "machines"),
    ("absolute build path", {"scripts/x.sh": "cd /work/main && make\n"},
     "no file names anything outside the repository", "absolute path"),
    ("missing file", {"docs/extra.md": "[gone](nothing-here.md)\n"},
     "every relative Markdown link resolves", "missing file"),
    ("missing heading", {"docs/extra.md": "[where](guide.md#no-such-heading)\n"},
     "every relative Markdown link resolves", "missing heading"),
    ("missing local heading", {"docs/extra.md": "# Extra\n[here](#nowhere)\n"},
     "every relative Markdown link resolves", "missing heading"),
    ("link out of the repository", {"docs/extra.md": "[up](../../elsewhere.md)\n"},
     "every relative Markdown link resolves", "leaves the repository"),
    ("long README", {"README.md": "# Demo\n" + "line\n" * 250},
     "the README is a front door", "lines"),
    ("image label behind the release", {"Dockerfile": "ARG VERSION=1.1.0\nFROM scratch\n"},
     "the release has one version", "differ"),
    ("changelog behind the release", {"CHANGELOG.md": "# Changelog\n\n## [1.1.0] - 2025-01-01\n"},
     "the release has one version", "differ"),
]


def make_repo(files: dict[str, str]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="repo-check-"))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


def self_test() -> int:
    failures = []
    results = run_checks(make_repo(CLEAN_REPO))
    if any(results.values()):
        failures.append(f"the clean repository was flagged: {results}")
    for name, planted, check, word in PLANTED:
        results = run_checks(make_repo({**CLEAN_REPO, **planted}))
        caught = [p for p in results[check] if word.lower() in p.lower()]
        others = {k: v for k, v in results.items() if k != check and v}
        if not caught:
            failures.append(f"planted '{name}' was not caught by '{check}': {results}")
        elif others:
            failures.append(f"planted '{name}' also tripped {others}")
        print(f"test repo::self_test::{name.replace(' ', '_')} ... {'ok' if caught and not others else 'FAILED'}")
    anchor_cases = {
        "Running it": "running-it",
        "`BlogErrorRate`: 5xx above 1%": "blogerrorrate-5xx-above-1",
        "Upgrade & roll back": "upgrade--roll-back",
        "Grüße aus Köln": "grüße-aus-köln",
    }
    for heading, want in anchor_cases.items():
        got = github_anchor(heading)
        ok = got == want
        if not ok:
            failures.append(f"anchor of {heading!r} is {got!r}, want {want!r}")
        print(f"test repo::self_test::anchor_{want} ... {'ok' if ok else 'FAILED'}")
    for f in failures:
        print(f"    {f}")
    total = len(PLANTED) + len(anchor_cases) + 1
    status = "ok" if not failures else "FAILED"
    print(f"test result: {status}. {total - len(failures)} passed; {len(failures)} failed; 0 ignored")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2]
    return report(run_checks(root))


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Every alert rule links to its own runbook, and the link leads somewhere.

For each rule file given, every `- alert:` rule must carry exactly one `runbook_url`
annotation of the form `docs/operations.md#ANCHOR` (relative to the repository's root;
deploy/prometheus/alerts.yml's header says why), no old free-text `runbook`
annotation, and ANCHOR must be a heading of docs/operations.md by GitHub's rule
(lowercase, punctuation dropped, spaces to hyphens): the rule tests/repo/check.py
applies to Markdown links, imported from there so the two cannot disagree.

Usage: runbook_urls.py ROOT RULE_FILE...      (paths relative to ROOT)
       runbook_urls.py ROOT --self-test RULE_FILE
Prints one problem a line and exits 1 when there is any. --self-test drops the heading
the first rule links to from a copy of docs/operations.md and fails unless that is
reported.
"""

import re
import sys
from pathlib import Path

DOC = "docs/operations.md"
ALERT = re.compile(r"^(\s*)- alert:\s*(\S+)\s*$", re.M)
HEADING = re.compile(r"^#{1,6}\s")


def rules_of(text: str):
    """(alert name, the text of its rule) for each `- alert:` rule of a rule file."""
    starts = list(ALERT.finditer(text))
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        # a rule ends where a line is indented no deeper than its `- alert:` (the next
        # group, a YAML document's end)
        body = []
        for line in text[match.end():end].splitlines()[1:]:
            if line.strip() and len(line) - len(line.lstrip()) <= len(match.group(1)):
                break
            body.append(line)
        yield match.group(2), "\n".join(body)


def problems_of(root: Path, rule_files, doc_text: str):
    sys.path.insert(0, str(root / "tests" / "repo"))
    from check import anchors_of  # the Markdown checker's own anchor rule

    anchors = anchors_of(doc_text)
    problems = []
    for rule_file in rule_files:
        rules = list(rules_of((root / rule_file).read_text()))
        if not rules:
            problems.append(f"{rule_file}: no alert rules found")
        for alert, body in rules:
            urls = re.findall(r"^\s*runbook_url:\s*['\"]?([^'\"\s]+)['\"]?\s*$", body, re.M)
            if re.search(r"^\s*runbook:", body, re.M):
                problems.append(f"{rule_file}: {alert} has a `runbook` annotation; the steps belong in {DOC}")
            if len(urls) != 1:
                problems.append(f"{rule_file}: {alert} has {len(urls)} runbook_url annotations, not one")
                continue
            doc, _, anchor = urls[0].partition("#")
            if doc != DOC or not anchor:
                problems.append(f"{rule_file}: {alert}'s runbook_url {urls[0]} is not {DOC}#ANCHOR")
            elif anchor not in anchors:
                problems.append(f"{rule_file}: {alert}'s runbook_url {urls[0]} names no heading of {DOC}")
    return problems


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    doc_text = (root / DOC).read_text()
    if argv[2] == "--self-test":
        rule_file = argv[3]
        first = next(rules_of((root / rule_file).read_text()), None)
        url = re.search(r"runbook_url:\s*['\"]?([^'\"\s]+)", first[1]).group(1) if first else ""
        anchor = url.partition("#")[2]
        sys.path.insert(0, str(root / "tests" / "repo"))
        from check import github_anchor

        lines = doc_text.splitlines()
        cut = [l for l in lines if not (HEADING.match(l) and github_anchor(l.lstrip("#").strip()) == anchor)]
        if len(cut) == len(lines):
            print(f"self-test: {DOC} has no heading #{anchor} to remove")
            return 1
        if not problems_of(root, [rule_file], "\n".join(cut)):
            print(f"self-test: with the heading #{anchor} removed, nothing was reported")
            return 1
        return 0
    problems = problems_of(root, argv[2:], doc_text)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Checks every relative link in the README and the guides: the file it
names exists and, for `file#anchor` or `#anchor`, so does a heading with
that anchor (GitHub's rule: lower case, punctuation dropped, spaces to
hyphens). Usage: scripts/check_links.py [FILE.md ...] (default: README.md,
BENCHMARKS.md, docs/*.md, compat/README.md)."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path):
    """The file's lines outside fenced code blocks."""
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def anchors(path):
    seen = {}
    for line in prose(path):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        yield slug if n == 0 else f"{slug}-{n}"


def main(files):
    files = [pathlib.Path(f).resolve() for f in files] or [
        ROOT / "README.md",
        ROOT / "BENCHMARKS.md",
        ROOT / "compat" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    bad = 0
    for md in files:
        # Paragraphs, not lines: a link's text may wrap.
        for line in "\n".join(prose(md)).split("\n\n"):
            line = line.replace("\n", " ")
            # Inline code is not a link.
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):
                    continue  # a URL
                file, _, anchor = target.partition("#")
                dest = (md.parent / file).resolve() if file else md
                if not dest.exists():
                    print(f"{md}: {target}: no such file", file=sys.stderr)
                    bad += 1
                elif anchor and dest.suffix == ".md" and anchor not in set(anchors(dest)):
                    print(f"{md}: {target}: no such heading", file=sys.stderr)
                    bad += 1
    if bad:
        sys.exit(f"{bad} broken link(s)")


if __name__ == "__main__":
    main(sys.argv[1:])

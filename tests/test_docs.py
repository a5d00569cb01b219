"""The documentation's links hold: README.md, CHANGELOG.md and docs/*.md.

Every relative link must name a file that exists, and a ``#anchor`` must match a heading of the
target (GitHub's slug) or an explicit ``<a id=...>`` / ``<a name=...>``. Links to the web are not
followed (the tests never leave 127.0.0.1). The README stays short, and no page of docs/ is an
orphan. The checker's own tests show it can fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 220

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or ![alt](target), with an optional "title"; <target> spelling allowed.
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of nested brackets
    r"\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)"  # (target "title")
)
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML_ANCHOR = re.compile(r"<a\s[^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _outside_fences(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for the lines outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif (
            match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not line.strip()[len(match.group(1)) :].strip()
        ):
            fence = None


def heading_text(raw: str) -> str:
    """A heading's text as GitHub renders it: no code marks, link targets, HTML or emphasis."""
    text = _INLINE_CODE.sub(lambda m: m.group(2), raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*+)(.+?)\1", r"\2", text)
    return text.strip()


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped except - and _, spaces to -."""
    text = heading_text(text).lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in "-_ ")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors a Markdown file offers: its headings' slugs (duplicates get -1, -2, ...)
    and the ids and names of its <a> tags."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    previous = ""
    for _, line in _outside_fences(text):
        heading = None
        atx = _ATX.match(line)
        if atx:
            heading = atx.group(2)
        elif (
            _SETEXT.match(line)
            and previous.strip()
            and not previous.lstrip().startswith(("|", "-", "*", ">"))
        ):
            heading = previous
        if heading is not None:
            base = slug(heading)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(_HTML_ANCHOR.findall(_INLINE_CODE.sub("", line)))
        previous = line
    return found


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link outside code: inline, image and reference definitions."""
    for number, line in _outside_fences(text):
        line = _INLINE_CODE.sub("", line)
        for match in _INLINE_LINK.finditer(line):
            yield number, match.group(1).strip("<>")
        ref = _REF_DEF.match(line)
        if ref:
            yield number, ref.group(1).strip("<>")


def broken_links(path: Path, root: Path) -> list[str]:
    """What is wrong with the relative links of one Markdown file, one line each."""
    problems = []
    text = path.read_text(encoding="utf-8")
    for number, target in links(text):
        if _SCHEME.match(target) or target.startswith("//"):
            continue  # http(s), mailto and the like: not followed here
        file_part, _, anchor = target.partition("#")
        where = f"{path.relative_to(root)}:{number}: ({target})"
        if file_part:
            dest = (path.parent / file_part.split("?")[0]).resolve()
            if not dest.exists():
                problems.append(f"{where}: no such file")
                continue
        else:
            dest = path
        if anchor:
            if dest.suffix.lower() != ".md" or not dest.is_file():
                problems.append(f"{where}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(dest.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading or <a id> '{anchor}' in {dest.name}")
    return problems


def doc_files(root: Path) -> list[Path]:
    files = [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").glob("*.md"))]
    return [f for f in files if f.exists()]


def orphans(root: Path) -> list[str]:
    """The pages of docs/ that neither the README nor another page links to."""
    linked: set[Path] = set()
    for path in doc_files(root):
        for _, target in links(path.read_text(encoding="utf-8")):
            if _SCHEME.match(target):
                continue
            file_part = target.partition("#")[0]
            if file_part:
                dest = (path.parent / file_part).resolve()
                if dest != path.resolve():
                    linked.add(dest)
    pages = sorted((root / "docs").glob("*.md"))
    return [str(p.relative_to(root)) for p in pages if p.resolve() not in linked]


# The repository's own documentation


@pytest.mark.parametrize("path", doc_files(ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    assert broken_links(path, ROOT) == []


def test_readme_is_short_and_keeps_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "## Try it: two commands" in text
    assert "make demo" in text and "make test" in text


def test_every_page_of_docs_is_linked_from_somewhere() -> None:
    assert orphans(ROOT) == []


def test_every_page_says_who_it_is_for_under_its_title() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), page.name
        first_paragraph = next(line for line in lines[1:] if line.strip())
        assert first_paragraph.startswith("For "), page.name


def test_there_is_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text and "## [2.0.0]" in text


# The checker itself: it can fail


def test_slugs_follow_github() -> None:
    cloud_tasks = "Cloud Tasks: any size, exactly once in effect"
    assert slug(cloud_tasks) == "cloud-tasks-any-size-exactly-once-in-effect"
    assert slug("An automation's burst (issue 15)") == "an-automations-burst-issue-15"
    assert slug("One command: `make deploy`") == "one-command-make-deploy"
    assert slug("[2.0.0] - 2026-11-24") == "200---2026-11-24"
    assert slug("snake_case and **bold**") == "snake_case-and-bold"
    text = "# Notes\n\n## Notes\n\n### Notes\n\n```\n# Notes\n```\n<a id=\"here\"></a>\n"
    assert anchors(text) == {"notes", "notes-1", "notes-2", "here"}


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(
        "# Page\n\nFor testers.\n\n## Second part\n\n<a name=\"kept\"></a>\n", encoding="utf-8"
    )
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# Title\n\n"
        "[fine](docs/page.md#second-part) [fine too](docs/page.md#kept) [web](https://example.com/x#y)\n"
        "[gone](docs/missing.md) [no heading](docs/page.md#third-part) [self](#nowhere)\n"
        "`[in code](docs/missing.md)`\n\n"
        "```\n[in a fence](docs/missing.md)\n```\n\n"
        "[ref]: docs/also-missing.md\n",
        encoding="utf-8",
    )
    problems = broken_links(tmp_path / "README.md", tmp_path)
    assert [p.split(": (")[1] for p in problems] == [
        "docs/missing.md): no such file",
        "docs/page.md#third-part): no heading or <a id> 'third-part' in page.md",
        "#nowhere): no heading or <a id> 'nowhere' in README.md",
        "docs/also-missing.md): no such file",
    ]
    assert orphans(tmp_path) == ["docs/orphan.md"]

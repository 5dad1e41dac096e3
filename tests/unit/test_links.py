"""Every relative link of README.md and docs/*.md leads to a file of this repository, in a clone as on GitHub."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from support.runner import REPO


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def references(text: str) -> list[str]:
    """The targets of the document's links and images, and the paths its inline code names as a document
    (`bench/RESULTS.md`): prose points at files both ways. Fenced code is not a reference."""
    found = []
    stack = MarkdownIt("commonmark").parse(text)
    while stack:
        token = stack.pop(0)
        stack[:0] = token.children or []
        if token.type == "link_open":
            found.append(str(token.attrs["href"]))
        elif token.type == "image":
            found.append(str(token.attrs["src"]))
        elif token.type == "code_inline" and token.content.endswith(".md") and " " not in token.content:
            found.append(token.content)
    return found


def dead(document: Path, target: str) -> str | None:
    """Why `target`, read from `document`, leads nowhere in the repository; None when it does."""
    url = urlsplit(target)
    if url.scheme or url.netloc or not url.path:
        return None  # another site, or an anchor in the same document
    path = (document.parent / unquote(url.path)).resolve()
    if not path.is_relative_to(REPO.resolve()):
        return "outside the repository: a clone does not have it"
    if not path.exists():
        return "no such file"
    return None


@pytest.mark.parametrize(("text", "refs"), [
    ("see [the map](docs/architecture.md#sandbox) and ![plot](bench/ratios.png)",
     ["docs/architecture.md#sandbox", "bench/ratios.png"]),
    ("The map of the code is `../shared/DESIGN.md`.", ["../shared/DESIGN.md"]),
    ("```sh\ncat [x](nowhere.md) `gone.md`\n```\n", []),
    ("[out](https://example.com/x.md), [here](#build), `gobox build`", ["https://example.com/x.md", "#build"]),
])
def test_references_are_links_images_and_named_documents(text: str, refs: list[str]) -> None:
    assert references(text) == refs


def test_a_link_out_of_the_clone_is_dead() -> None:
    assert dead(REPO / "README.md", "../shared/DESIGN.md") == "outside the repository: a clone does not have it"
    assert dead(REPO / "docs" / "ci.md", "ci/nothing.yml") == "no such file"
    assert dead(REPO / "docs" / "config.md", "../gobox.toml.example") is None


def test_every_relative_link_resolves() -> None:
    broken = [f"{doc.relative_to(REPO)}: {ref}: {why}" for doc in documents()
              for ref in references(doc.read_text()) if (why := dead(doc, ref))]
    assert broken == []


def test_the_readme_links_the_design_in_the_repository() -> None:
    assert "docs/architecture.md" in references((REPO / "README.md").read_text())
    assert (REPO / "docs" / "architecture.md").read_text().startswith("# gobox")

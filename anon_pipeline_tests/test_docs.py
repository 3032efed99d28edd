"""The README a newcomer reads to the end: short, every docs/ page linked from it, and
every relative link in it and in docs/ leads somewhere (no path outside the repository,
no stale module)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`((?:anon_pipeline|engine|benchmarks|deploy|packaging)/[\w/.]+\.py)`")


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(path.read_text())
        if not re.match(r"[a-z]+://|#|mailto:", target)
    ]


def test_the_readme_is_short_and_links_every_docs_page():
    text = README.read_text()
    assert text.count("\n") <= 250
    for page in PAGES:
        assert f"](docs/{page.name})" in text, page.name


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(path):
    for target in relative_links(path):
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(REPO), f"{path.name}: {target} leaves the repository"
        assert resolved.exists(), f"{path.name}: {target} does not exist"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_every_named_module_exists(path):
    for named in CODE_PATH.findall(path.read_text()):
        candidates = [
            REPO / named,
            REPO / "anon_pipeline" / named,
            REPO / "anon_pipeline_tests" / named,
        ]
        assert any(candidate.exists() for candidate in candidates), f"{path.name}: {named}"

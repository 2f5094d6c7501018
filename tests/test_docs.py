"""The README is an entry point: short, and every relative link in it and in docs/ leads somewhere."""
import re

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "deploy" / "envoy" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(page):
    return [target.split("#")[0] for target in LINK.findall(page.read_text())
            if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


def test_the_readme_is_an_entry_point():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert [target for target in relative_links(page) if not (page.parent / target).exists()] == []


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[there](page.md) [gone](missing.md#part) [web](https://example.org)")
    assert [t for t in relative_links(page) if not (page.parent / t).exists()] == ["missing.md"]

"""The README and the manual in docs/: links that lead somewhere, a README a new user can read."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_picture_exists(page):
    text = page.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    missing = [t for t in local if t and not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to {missing}"


def test_the_readme_starts_with_the_two_setup_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [line.split("#")[0].strip() for line in lines[2:6] if line.strip() and not line.startswith("```")]
    assert lines[0] == "# huenet" and commands == ["make demo", "make test"], lines[:6]
    assert len(lines) <= 250
    for target in ("demo", "test", "lint"):  # the Makefile has what the README and CI call
        assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), re.M)

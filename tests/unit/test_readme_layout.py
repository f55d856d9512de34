"""README's code-layout section matches the tree: every top-level directory, every module and subpackage of
pushengine and every function is named there, and every file it names exists. README stands alone (it cites
no document the repository lacks), keeps its table rows in their tables and its bullets whole, and counts
the console's modules right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "pushengine"
NOT_SOURCE = {"reports", "node_modules", "__pycache__"}
# where a name in the section may be relative to (a router's file is named as in `routes/x.py`, or after it)
BASES = [ROOT, ROOT / "layers" / "shared", PACKAGE, *(PACKAGE / d for d in ("routes", "delivery", "dal", "providers")),
         ROOT / "local" / "demo"]  # fmt: skip


def layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Code layout\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def named() -> set[str]:
    return {name.strip() for name in re.findall(r"`([^`]+)`", layout_section())}


def test_every_directory_module_and_function_is_named() -> None:
    names = named()
    top = sorted(
        p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_SOURCE
    )
    missing = [d for d in top if not any(n == f"{d}/" or n.startswith(f"{d}/") for n in names)]
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    missing += [m for m in modules if m not in names]
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    missing += [f"{p}/" for p in packages if f"{p}/" not in names]
    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists())
    missing += [f"functions/{f}/app.py" for f in functions if f"functions/{f}/app.py" not in names]
    assert missing == [], f"README's code layout does not name: {missing}"


def test_every_file_the_layout_names_exists() -> None:
    paths = [n for n in named() if "<" not in n and (n.endswith((".py", ".yaml", "/")) or n.startswith(".ci/"))]
    stale = [n for n in paths if not any((base / n.strip("/")).exists() for base in BASES)]
    assert stale == [], f"README's code layout names what is not in the tree: {stale}"


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_stands_alone_citing_no_document_the_repository_lacks() -> None:
    cited = set(re.findall(r"[\w./-]*[A-Za-z]\.md\b", readme()))
    missing = sorted(c for c in cited if not (ROOT / c).exists() and not list(ROOT.glob(f"*/{c}")))
    assert missing == [], f"README cites documents the repository does not have: {missing}"


def test_every_table_row_sits_in_a_table() -> None:
    """A row cut off from its table renders as a stray line of pipes."""
    lines = readme().splitlines()
    strays = [
        line for i, line in enumerate(lines)
        if line.startswith("|") and not (i and lines[i - 1].startswith("|"))
        and not (i + 1 < len(lines) and lines[i + 1].startswith("|"))
    ]  # fmt: skip
    assert strays == []


def test_the_console_s_modules_are_counted_right() -> None:
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    modules = sorted(p.name for p in (ROOT / "functions" / "console" / "static").glob("*.js"))
    (said,) = re.findall(r"Plain HTML, CSS and (\w+) small ES modules", readme())
    assert said == words[len(modules)], f"README says {said} ES modules; the console has {modules}"


def test_no_bullet_of_properties_kept_is_cut_by_another() -> None:
    """Each bullet of 'Properties kept' is one paragraph: none ends in a fragment of another's sentence."""
    text = readme()
    section = text[text.index("### Properties kept") : text.index("\n## Code layout")]
    bullets = re.split(r"\n- ", section)[1:]
    fragments = [b.split("\n")[0][:60] for b in bullets
                 if re.search(r"\.\n  [a-z]", b)]  # fmt: skip
    assert fragments == [], f"bullets with a sentence fragment of another's inside: {fragments}"

"""docs/chapter4.md maps chapter 4's sections to code, pages and tests: every entry must exist."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| (4\.\d) \| [^|]+ \| `([^`]+)`: `([^`]+)` \| `([^`]+)` \| `([^`]+)`: `([^`]+)` \|$")


def rows() -> list[tuple[str, ...]]:
    text = (ROOT / "docs" / "chapter4.md").read_text()
    return [match.groups() for line in text.splitlines() if (match := ROW.match(line))]


def defined_names(path: Path) -> set[str]:
    """Top-level functions, classes and assigned names of a Python file."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_section_of_chapter_4_is_mapped_once():
    assert [row[0] for row in rows()] == ["4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7"]


@pytest.mark.parametrize("row", rows(), ids=lambda row: row[0])
def test_each_entry_names_a_real_symbol_page_and_test(row):
    _, code_file, symbol, page, test_file, test_name = row
    assert symbol in defined_names(ROOT / code_file), f"{symbol} is not defined in {code_file}"
    assert (ROOT / page).is_file(), f"{page} does not exist"
    assert test_name in defined_names(ROOT / test_file), f"{test_name} is not in {test_file}"


def test_gptcores_docstring_carries_the_same_map():
    import gptcore

    for section, _code_file, symbol, *_ in rows():
        assert f"{section} " in gptcore.__doc__ and symbol in gptcore.__doc__, (section, symbol)

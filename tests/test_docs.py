"""docs/plugin_hooks.md documents every hook in hookspecs.py, with its exact arguments (like
datasette's test_docs.py)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from commonly_kernel import hookspecs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugin_hooks.md"
HEADING = re.compile(r"^## (commonly_\w+)\((.*)\)\s*$", re.MULTILINE)
CODE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def specs() -> dict[str, str]:
    """Hook name → argument list as written in the spec (``a, b``)."""
    return {
        name: ", ".join(inspect.signature(function).parameters)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "commonly_spec")
    }


def headings() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, args in HEADING.findall(DOCS.read_text()):
        assert name not in found, f"{name} has two headings"
        found[name] = args
    return found


def sections() -> dict[str, str]:
    """Hook name → the text under its heading."""
    text = DOCS.read_text()
    marks = list(HEADING.finditer(text))
    return {
        mark.group(1): text[mark.end(): marks[index + 1].start() if index + 1 < len(marks) else len(text)]
        for index, mark in enumerate(marks)
    }


def test_docs_specs_found():
    assert len(specs()) >= 20
    assert specs()["commonly_pod_context"] == "pod, actor, query, kernel"


@pytest.mark.parametrize("hook", sorted(specs()))
def test_docs_heading_for_every_hook(hook):
    documented = headings()
    assert hook in documented, f"docs/plugin_hooks.md has no '## {hook}(...)' heading"
    assert documented[hook] == specs()[hook], (
        f"docs/plugin_hooks.md: '## {hook}({documented[hook]})' should be '## {hook}({specs()[hook]})'"
    )


def test_docs_no_heading_for_unknown_hooks():
    unknown = set(headings()) - set(specs())
    assert not unknown, f"docs/plugin_hooks.md documents hooks that do not exist: {sorted(unknown)}"


def test_docs_headings_in_spec_order():
    # The page reads like hookspecs.py: registration, lifecycle, lookup, then domain events.
    source = inspect.getsource(hookspecs)
    in_source = sorted(specs(), key=lambda name: source.index(f"def {name}("))
    assert list(headings()) == in_source


@pytest.mark.parametrize("hook", sorted(specs()))
def test_docs_each_hook_has_when_return_and_an_example(hook):
    text = sections()[hook]
    assert "**When:**" in text and "**Return:**" in text
    examples = CODE.findall(text)
    assert examples, f"{hook} has no python example"
    example = "\n".join(examples)
    assert f"def {hook}(" in example and "@hookimpl" in example
    tree = ast.parse(example)
    # The example's own signature is a subset of the spec's arguments, as pluggy requires.
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == hook:
            assert {arg.arg for arg in node.args.args} <= set(specs()[hook].split(", ")) - {""}


def test_docs_every_code_block_parses():
    for block in CODE.findall(DOCS.read_text()):
        ast.parse(block)

"""The desktop keeps no second copy of the wire, and imports no backend internals.

Two rules of docs/architecture.md ("Desktop: who imports what"), checked on
the source: under ``desktop/`` the only backend modules imported are
``backend.schemas`` (the wire), ``backend.embedded`` (the in-process
start) and ``backend.backoff`` (the one retry rule, pure), and no string
literal spells a wire name that ``backend.schemas`` defines (a camelCase
field, a websocket message type, a query parameter): those are read from
the models, so a rename cannot leave the desktop behind.
"""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

import backend.schemas as schemas

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"
ALLOWED_BACKEND = {"backend.schemas", "backend.embedded", "backend.backoff"}
# Same word, other meaning: the saved-profiles file (name, url, token) and the timeline's
# lane choices (by depth, by queue) are the desktop's own, not the wire's.
NOT_WIRE = {("desktop/connection.py", "token"), ("desktop/timeline.py", "queue")}


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(DESKTOP.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported_modules(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield str(node.args[0].value)


def wire_models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(schemas).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    ]


def wire_names() -> set[str]:
    """Every name the wire spells unlike Python, every message type, every query parameter."""
    names: set[str] = set()
    for model in wire_models():
        if issubclass(model, schemas.QueryModel):
            names.update(model.model_fields)  # query parameter names are the field names
        for field, info in model.model_fields.items():
            if info.alias and info.alias != field:
                names.add(info.alias)
            if typing.get_origin(info.annotation) is typing.Literal:
                names.update(str(arg) for arg in typing.get_args(info.annotation))
    return names


def string_literals(tree: ast.Module) -> Iterator[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_desktop_imports_only_the_wire_and_the_embedded_start() -> None:
    found = {
        f"{path.relative_to(DESKTOP.parent)}: {module}"
        for path, tree in sources()
        for module in imported_modules(tree)
        if (module == "backend" or module.startswith("backend.")) and module not in ALLOWED_BACKEND
    }
    assert found == set()


def test_no_second_spelling_of_a_wire_name_under_desktop() -> None:
    names = wire_names()
    assert {"jobId", "rootJobId", "nextCursor", "flow:job:updated", "batch", "q", "since"} <= names
    found = [
        f"{path.relative_to(DESKTOP.parent)}:{line}: {text!r}"
        for path, tree in sources()
        for line, text in string_literals(tree)
        if text in names and (str(path.relative_to(DESKTOP.parent)), text) not in NOT_WIRE
    ]
    assert found == []

"""Every private name of a dependency that lit_rnn uses is in the register of ``docs/design.md``, with what it buys and
the versions it is tested on, and the register lists no name that lit_rnn no longer uses.

A private name is an underscored one (``_parse_num_batches``, not ``__init__``) that lit_rnn does not define itself:
imported from a dependency, read or called on a dependency's object, a dependency's method overridden in a subclass,
or a dependency's attribute set on an instance of its class or compared by name."""

import ast
import importlib
import inspect
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "lit_rnn"
REGISTER = REPO / "docs" / "design.md"
DOCUMENTED_PUBLIC = {"_exit", "_asdict", "_replace", "_fields"}  # os._exit and namedtuple's methods: in Python's docs
REGISTER_ROW = re.compile(r"^\| ((?:`_\w+`(?:, )?)+) \|", re.MULTILINE)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in DOCUMENTED_PUBLIC


def _trees() -> dict[str, ast.Module]:
    return {
        ".".join(path.relative_to(REPO).with_suffix("").parts): ast.parse(path.read_text())
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _defined_by_lit_rnn(trees: dict[str, ast.Module]) -> set[str]:
    """The names lit_rnn gives its own functions, classes, variables, arguments and attributes (set on ``self``)."""
    own = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.update([node.attr] if getattr(node.value, "id", None) in ("self", "cls") else [])
    return own


def _external_bases(module: str, class_name: str) -> list[type]:
    klass = getattr(importlib.import_module(module), class_name)
    return [base for base in klass.__mro__[1:] if not base.__module__.startswith("lit_rnn") and base is not object]


def private_names_used() -> dict[str, set[str]]:
    """Each private name of a dependency that lit_rnn uses, with the modules using it."""
    trees = _trees()
    own = _defined_by_lit_rnn(trees)
    used: dict[str, set[str]] = {}
    for module, tree in trees.items():
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("lit_rnn"):
                names += [alias.name for alias in node.names] + node.module.split(".")
            elif isinstance(node, ast.Import):
                names += [part for alias in node.names for part in alias.name.split(".")]
            elif isinstance(node, ast.Attribute) and node.attr not in own:
                names.append(node.attr)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):  # super()._method(...)
                names += [node.attr] if getattr(node.value.func, "id", None) == "super" else []
            elif isinstance(node, ast.ClassDef):
                names += _reached_through_subclass(module, node)
            elif isinstance(node, ast.Compare):  # name == "_attribute": a dependency's attribute, named in a string
                names += [item.value for item in node.comparators if isinstance(getattr(item, "value", None), str)]
        for name in filter(_private, names):
            used.setdefault(name, set()).add(module)
    return used


def _reached_through_subclass(module: str, node: ast.ClassDef) -> list[str]:
    """A dependency's private methods that the class overrides, and its private attributes that the class sets."""
    bases = _external_bases(module, node.name)
    if not bases:
        return []
    sources = "\n".join(inspect.getsource(base) for base in bases if base.__module__ != "builtins")
    methods = [item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
    stored = [
        target.attr
        for item in ast.walk(node)
        if isinstance(item, ast.Assign)
        for target in item.targets
        if isinstance(target, ast.Attribute) and getattr(target.value, "id", None) == "self"
    ]
    overridden = [name for name in methods if any(hasattr(base, name) for base in bases)]
    return overridden + [name for name in stored if re.search(rf"\bself\.{name}\b", sources)]


def registered_names() -> set[str]:
    return {name.strip("`") for row in REGISTER_ROW.findall(REGISTER.read_text()) for name in row.split(", ")}


def test_the_scan_finds_a_private_name_of_each_kind():
    used = private_names_used()
    assert {"_FitLoop", "_batches_that_stepped", "_run_exitfuncs"} <= set(used)  # imported, read, read on a module
    assert "_terminate_all" in used  # a dependency's method, overridden
    assert "_current_fx_name" in used  # a dependency's attribute, named in a string


def test_every_private_name_used_is_in_the_register_and_the_register_lists_no_other():
    used, registered = private_names_used(), registered_names()
    unregistered = {name: sorted(modules) for name, modules in used.items() if name not in registered}
    assert unregistered == {}, "add each to the register of docs/design.md, with what it buys and the versions tested"
    assert registered - set(used) == set(), "no longer used: take them out of the register of docs/design.md"

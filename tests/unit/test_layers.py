"""The package tree keeps its shape: each package of lab/ imports only what its ``__init__``
docstring allows ("May import: ..."), and a pure package imports nothing that acts on the host.

Every import counts: module level and inside functions, ``import x`` and ``from x import y``.
"""

import ast
import pathlib
import re
import shutil

import pytest

from factories import ROOT

LAB = pathlib.Path(ROOT) / "lab"

# what acts on the host: a pure package imports none of these
SIDE_EFFECTS = {"subprocess", "socket", "ctypes", "fcntl", "select", "signal", "threading", "asyncio",
                "multiprocessing", "http", "shutil", "pyroute2", "scapy", "ssl", "urllib.request"}
# top-level modules of lab/ and what each may import of lab
TOP_LEVEL = {"lab": set(), "lab.errors": set(), "lab.tables": set(), "lab.__main__": {"lab.cli"},
             "lab.topo_api": {"lab.spec"}, "lab.pytest_plugin": {"*"}}


def package_rules(root):
    """{"lab.spec": (pure, {allowed packages} or {"*"})} from each package's docstring."""
    rules = {}
    for init in sorted(root.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        package = f"lab.{init.parent.name}"
        kind = re.search(r"^(Pure|Edge)\.", doc, re.M)
        allowed = re.search(r"May import: (.*?)\.\s*$", " ".join(doc.split()), re.S)
        assert kind and allowed, f"{init}: the docstring says neither 'Pure.'/'Edge.' nor 'May import: ...'"
        names = allowed.group(1)
        rules[package] = (kind.group(1) == "Pure",
                          {"*"} if names == "anything in lab" else {n.strip() for n in names.split(",")})
    return rules


def module_name(root, path):
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, module, modules):
    """(imported module, line) for every import in the file, relative ones resolved: for
    ``from X import y``, ``X.y`` when that is a module, else ``X``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                yield (f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target), node.lineno


def top_package(name):
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


def violations(root):
    rules = package_rules(root)
    modules = {module_name(root, p) for p in root.rglob("*.py")}
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        owner = top_package(module)
        if module in TOP_LEVEL:
            pure, allowed = False, TOP_LEVEL[module]
        elif owner in rules:
            pure, allowed = rules[owner]
        else:
            found.append(f"{module}: a module at the top of lab/ that no rule covers")
            continue
        for target, line in sorted(set(imports(path, module, modules))):
            where = f"{path.relative_to(root.parent)}:{line}"
            if target.split(".")[0] == "lab":
                target_package = top_package(target)
                if target_package in (owner, "lab") or "*" in allowed or target_package in allowed:
                    continue
                if target in allowed:
                    continue
                found.append(f"{where}: {module} imports {target}, which {owner} may not import")
            elif pure and (target in SIDE_EFFECTS or target.split(".")[0] in SIDE_EFFECTS):
                found.append(f"{where}: pure {owner} imports {target}")
    return found


def test_every_import_follows_the_layers():
    assert violations(LAB) == []


def test_the_pure_packages_are_the_ones_the_tree_promises():
    pure = {name for name, (is_pure, _) in package_rules(LAB).items() if is_pure}
    assert pure == {"lab.spec", "lab.cluster", "lab.proxy", "lab.net"}


def test_every_package_says_its_job_and_its_imports():
    for init in LAB.glob("*/__init__.py"):
        assert len(ast.get_docstring(ast.parse(init.read_text())) or "") > 80, init


@pytest.mark.parametrize("module, line, expected", [
    ("cluster/model.py", "import subprocess\n", "pure lab.cluster imports subprocess"),
    ("proxy/names.py", "def f():\n    from lab.live import up\n", "lab.proxy.names imports lab.live.up"),
    ("spec/fields.py", "def g():\n    from lab.kernel.netns import entered\n", "imports lab.kernel.netns"),
    ("kernel/netns.py", "from lab.cli import main\n", "lab.kernel.netns imports lab.cli.main"),
    ("net/wiring.py", "def h():\n    import socket\n", "pure lab.net imports socket"),
])
def test_a_planted_violation_is_found(tmp_path, module, line, expected):
    copy = tmp_path / "lab"
    shutil.copytree(LAB, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / module, "a") as f:
        f.write("\n\n" + line)
    found = violations(copy)
    assert any(expected in v for v in found), found
    assert len(found) == 1, found


def test_a_module_outside_every_package_is_found(tmp_path):
    copy = tmp_path / "lab"
    shutil.copytree(LAB, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "helpers.py").write_text("X = 1\n")
    assert violations(copy) == ["lab.helpers: a module at the top of lab/ that no rule covers"]

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_fer"
MODULES = sorted(
    ".".join(("keras_fer", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__") for path in PACKAGE.rglob("*.py")
)


def _path(module):
    relative = Path(*module.split(".")[1:])
    return PACKAGE / relative / "__init__.py" if (PACKAGE / relative).is_dir() else PACKAGE / relative.with_suffix(".py")


def _imports(module):
    """The keras_fer modules that `module` imports at module level (imports inside functions are lazy)."""
    tree = ast.parse(_path(module).read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("keras_fer")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_fer"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names}
    return found - {module}


def test_module_imports_have_no_cycle():
    graph = {module: _imports(module) for module in MODULES}
    state = {}

    def visit(module, trail):
        if state.get(module) == "open":
            cycle = trail[trail.index(module) :] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if state.get(module) == "done":
            return
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            visit(imported, trail + [module])
        state[module] = "done"

    for module in MODULES:
        visit(module, [])


EACH_ON_ITS_OWN = """
import importlib, sys
import keras, tensorflow  # third-party modules stay loaded: importing them is what makes fresh interpreters slow
failed = []
for module in sys.argv[1:]:
    for name in [name for name in sys.modules if name.split(".")[0] == "keras_fer"]:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    except Exception as error:
        failed.append(f"{module}: {type(error).__name__}: {error}")
print("\\n".join(failed))
"""


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # One interpreter, every keras_fer module imported first with no other keras_fer
    # module loaded: a cycle is an ImportError of a partially initialized module.
    result = subprocess.run([sys.executable, "-c", EACH_ON_ITS_OWN, *MODULES], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", result.stdout

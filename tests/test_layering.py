"""The package's layers: a module imports only from its own layer or lower ones, anywhere in its code
(inside functions and under TYPE_CHECKING too). So the engine runs chains without knowing dataset types,
configs know nothing of providers or the engine, and so on."""

import ast
from pathlib import Path

import datafast

# Lowest first. A top-level module or package of datafast belongs to exactly one layer.
LAYERS: list[set[str]] = [
    {"errors", "_sync", "_background", "_files", "_env", "logger_config"},  # foundations
    {"expansion", "sources", "expanders"},  # prompt templates; reading input rows
    {"schema"},  # configs and record models
    {"llms", "quality"},  # providers; cleaning and the report
    {"outputs"},  # JSONL, exports, the Hub
    {"engine"},  # running chains of requests
    {"datasets"},  # the dataset types
    # what users call
    {"planning", "data_commands", "run_status", "cli", "__init__", "__main__", "testing", "utils", "inspectors"},
]

ROOT = Path(datafast.__file__).parent


def layer_of(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"datafast.{name} is in no layer: add it to LAYERS in {__file__}")


def part_of(module: str) -> str:
    """The top-level module or package of `datafast.x.y` (`x`), or `__init__` for `datafast` itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("datafast"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("datafast")]
    return found


def test_no_module_imports_from_a_higher_layer():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        own = relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else path.stem
        for line, module in imports(path):
            target = part_of(module)
            if target != own and layer_of(target) > layer_of(own):
                wrong.append(f"datafast/{relative}:{line} imports {module} ({own} is below {target})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_import_from_a_higher_layer(tmp_path):
    module = tmp_path / "example.py"
    module.write_text("def f():\n    from datafast.datasets.base import DatasetBase\n")
    assert imports(module) == [(2, "datafast.datasets.base")]
    assert layer_of(part_of("datafast.datasets.base")) > layer_of("engine")
    assert layer_of("llms") < layer_of("engine") and layer_of("schema") < layer_of("llms")
    assert layer_of("quality") < layer_of("outputs")

"""The kernel reads in layers: a module imports only its own package and the
layers before it (see `kernel/__init__.py`), and the kernel never imports the
command line. An upward import is a design bug this test names."""

import ast
from pathlib import Path

import kernel

LAYERS = ["kernel.errors", "kernel.base", "kernel.record", "kernel.planner", "kernel.workspace", "kernel.land",
          "kernel.tasks", "kernel.views", "kernel.verify", "kernel.audit", "kernel.hooks", "kernel.demo"]
# Peers: read-only views and checks sit side by side on top of tasks.
RANK = {name: i for i, name in enumerate(LAYERS)} | {"kernel.verify": LAYERS.index("kernel.views"),
                                                    "kernel.audit": LAYERS.index("kernel.views"),
                                                    "kernel.hooks": LAYERS.index("kernel.views")}
KERNEL = Path(kernel.__file__).parent


def layer_of(module: str) -> str | None:
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return None


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(KERNEL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_kernel_module_belongs_to_a_layer() -> None:
    strays = [module_name(p) for p in KERNEL.rglob("*.py") if module_name(p) != "kernel" and not layer_of(module_name(p))]
    assert strays == []


def test_no_kernel_module_imports_a_later_layer_or_the_cli() -> None:
    upward = []
    for path in sorted(KERNEL.rglob("*.py")):
        me = module_name(path)
        mine = layer_of(me)
        for target in imports(path):
            theirs = layer_of(target)
            if target.startswith("jitos_cli") or (mine and theirs and RANK[theirs] > RANK[mine]):
                upward.append(f"{me} imports {target}")
    assert upward == []


def test_the_planner_is_pure() -> None:
    allowed = ("kernel.errors", "kernel.base.config", "kernel.planner")
    impure = [f"{module_name(p)} imports {t}" for p in sorted((KERNEL / "planner").rglob("*.py"))
              for t in imports(p) if t.startswith(("kernel", "pygit2")) and not t.startswith(allowed)
              and t != "kernel"]
    assert impure == []

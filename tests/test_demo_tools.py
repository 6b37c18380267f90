"""The demo data generator is a tool beside the product, not part of it (issue 12): it lives
in tools/roadmap_demo_data (its own distribution, tools/pyproject.toml), the product
package `flows` never imports it at module level, the product's wheel and the runtime
image hold none of it, and where it is not installed `roadmap generate` says so in one
line (exit 2) instead of a traceback. Where it is installed (`make setup`), `roadmap
generate` works as docs/INTERFACE.md says (tests/test_generate.py, tests/test_console.py).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from flows.cli import GENERATOR_MISSING, build_parser

REPO = Path(__file__).resolve().parents[1]
TOOL = "roadmap_demo_data"


def _module_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import not inside a function body."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.append((child.lineno, "." * child.level + (child.module or "")))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _imports_tool(module: str) -> bool:
    return module == TOOL or module.startswith(TOOL + ".")


@pytest.mark.fast
def test_the_product_package_does_not_import_the_generator():
    offenders = []
    lazily = []
    for path in sorted((REPO / "flows").rglob("*.py")):
        rel = path.relative_to(REPO)
        text = path.read_text(encoding="utf-8")
        offenders += [f"{rel}:{line} imports {m}" for line, m in _module_level_imports(path) if _imports_tool(m)]
        if TOOL in text:
            lazily.append(str(rel))
    assert offenders == [], "the product imports the demo generator at module level: " + "; ".join(offenders)
    # only the CLI's `generate` command names it, inside its functions
    assert lazily == ["flows/cli.py"], lazily
    assert not (REPO / "flows" / "generate.py").exists()
    assert (REPO / "tools" / TOOL / "generate.py").is_file()


@pytest.mark.fast
def test_the_checker_sees_a_module_level_import(tmp_path):
    """The check above can fail: an import at module level (also under `if`/`try`) is
    found, one inside a function is not."""
    source = tmp_path / "m.py"
    source.write_text(
        "import os\n"
        "try:\n    from roadmap_demo_data.generate import generate_landing\nexcept ImportError:\n    pass\n"
        "def f():\n    import roadmap_demo_data.cli\n"
    )
    hits = [(line, m) for line, m in _module_level_imports(source) if _imports_tool(m)]
    assert hits == [(3, "roadmap_demo_data.generate")]


def test_the_product_wheel_holds_no_generator(tmp_path):
    """`pip wheel` of the product (what `pip install .` would put into an image): the
    flows package only, none of tools/."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    shutil.copytree(REPO / "flows", src / "flows", ignore=ignore)
    shutil.copytree(REPO / "tools", src / "tools", ignore=ignore)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            ".",
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("roadmap_warehouse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "flows/cli.py" in names and "flows/nightly.py" in names
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"flows"}, tops
    assert not [n for n in names if TOOL in n or n.endswith("/generate.py")]


def _dockerfile_copies() -> list[tuple[list[str], str]]:
    copies = []
    for line in re.findall(r"^COPY (.+)$", (REPO / "Dockerfile").read_text(), re.M):
        parts = [p for p in line.split() if not p.startswith("--")]
        copies.append((parts[:-1], parts[-1]))
    return copies


def _image_app(tmp_path: Path) -> Path:
    """/app of the runtime image: what the Dockerfile's COPY lines put there, from this
    checkout (less what .dockerignore leaves out of the build context)."""
    app = tmp_path / "app"
    app.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "target", "logs", "dbt_packages")
    for sources, dest in _dockerfile_copies():
        for source in sources:
            assert Path(source).parts[0] not in (".", "tools"), f"the Dockerfile copies {source}"
            target = app / dest / (Path(source).name if dest.endswith("/") else "")
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=ignore)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, target)
    return app


def _run_as_in_the_image(app: Path, *args: str) -> subprocess.CompletedProcess:
    """Python as the image runs it: the installed libraries (site-packages, without the
    .pth files that make this checkout's editable installs importable) and /app on
    PYTHONPATH, `python -m flows` for `roadmap`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ROADMAP_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(app), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    return subprocess.run([sys.executable, "-S", *args], cwd=app, env=env, capture_output=True, text=True, timeout=300)


def test_the_runtime_image_holds_no_generator_and_roadmap_generate_says_where_to_get_it(tmp_path):
    assert "tools" in (REPO / ".dockerignore").read_text().split()
    app = _image_app(tmp_path)
    assert (app / "flows" / "cli.py").is_file()
    assert not [p for p in app.rglob("*") if TOOL in p.name or (p.name == "generate.py" and "flows" in p.parts)]

    # the generator cannot be imported there, and importing every module of the product
    # does not try to
    probe = _run_as_in_the_image(
        app,
        "-c",
        "import importlib, importlib.util, pkgutil, sys, flows\n"
        f"assert importlib.util.find_spec({TOOL!r}) is None, 'the generator is importable'\n"
        "for m in pkgutil.walk_packages(flows.__path__, 'flows.'):\n"
        "    if m.name != 'flows.__main__':\n"
        "        importlib.import_module(m.name)\n"
        f"print(sorted(n for n in sys.modules if n.startswith({TOOL!r})))\n",
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == "[]"

    # `roadmap generate` with the documented options, or asking for its help: one line, exit 2
    out = tmp_path / "landing"
    for args in (["--out", str(out), "--seed", "42", "--defects", "0.01", "--quiet"], ["--help"], []):
        run = _run_as_in_the_image(app, "-m", "flows", "generate", *args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert run.stdout == ""
        assert run.stderr.splitlines() == [GENERATOR_MISSING], run.stderr
        assert "Traceback" not in run.stderr
    assert not out.exists()
    # the other commands are all there; `roadmap --help` names generate as not installed here
    helped = _run_as_in_the_image(app, "-m", "flows", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "generate write realistic landing files (the demo data generator: not installed here)" in " ".join(
        helped.stdout.split()
    )
    assert set(build_parser()._subparsers._group_actions[0].choices) <= set(
        re.findall(r"^    (\w+)", helped.stdout, re.M)
    )


def test_roadmap_generate_runs_the_tool_where_it_is_installed(tmp_path):
    """In .venv (`make setup`) the installed `roadmap` script writes the landing files."""
    roadmap = Path(sys.executable).parent / "roadmap"
    out = tmp_path / "landing"
    run = subprocess.run(
        [str(roadmap), "generate", "--out", str(out), "--districts", "12", "--years", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"Wrote {len(list(out.iterdir()))} files to {out} (12 districts")
    # an invalid option value is still argparse's exit 2, from the tool's own options
    bad = subprocess.run(
        [str(roadmap), "generate", "--out", str(out), "--defects", "2"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "a rate must be between 0 and 1" in bad.stderr

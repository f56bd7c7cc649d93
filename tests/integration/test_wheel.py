"""The package as built and installed, not the source tree: the wheel is built from exactly what
deploy/Dockerfile copies, installed into a fresh virtual environment, and every data file a
package reads is loaded from the installed copy (intervals, code tables, migrations, scenarios, the
console)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("semon", "web", "ingest", "alerts", "registry", "simulators", "console", "bench", "assembly")


def dockerfile_copies() -> list[str]:
    """The sources deploy/Dockerfile copies into the image before `pip install .`."""
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    sources: list[str] = []
    for match in re.finditer(r"^COPY\s+(.+?)\s+\S+\s*$", text, re.MULTILINE):
        sources += match[1].split()
    return sources


def data_files() -> set[str]:
    """Every file of the packages that is not Python source, as paths inside the wheel."""
    return {str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; dependencies come from the test's own environment
    (a path in a .pth file: after the venv's own site-packages, and no editable finder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in dockerfile_copies():
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, src,
        cwd=tmp)
    (wheel,) = dist.glob("semon-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        missing = data_files() - set(archive.namelist())
    assert not missing, f"the wheel lacks data files: {sorted(missing)}"
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip())
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEMON_", "PYTHON", "VIRTUAL_ENV"))}
    return env | extra


CHECK = """
import json, sys
from pathlib import Path
venv = Path(sys.argv[1])
import alerts, console.web, ingest, registry.due, semon.db.migrations, semon.protocol.codes, simulators.scenario
import web.app
mods = [alerts, console.web, ingest, registry.due, semon.db.migrations, semon.protocol.codes, simulators.scenario,
        web.app]
outside = [m.__name__ for m in mods if not Path(m.__file__).resolve().is_relative_to(venv.resolve())]
table = registry.due.default_table()
print(json.dumps({
    "outside": outside,
    "intervals": sorted(table.raw),
    "code_tables": {k.value: sorted(semon.protocol.codes.table_names(k)) for k in semon.protocol.codes.Kind},
    "migrations": [name for name, _ in semon.db.migrations._migration_files()],
    "scenarios": sorted(p.stem for p in simulators.scenario.bundled_scenarios()),
    "static": sorted(p.name for p in console.web.STATIC_DIR.iterdir()),
    "index": console.web.INDEX_HTML.read_text(encoding="utf-8")[:15],
}))
"""


def test_the_installed_wheel_loads_every_data_file(installed: Path, tmp_path: Path) -> None:
    out = json.loads(run(installed / "bin" / "python", "-c", CHECK, installed, cwd=tmp_path,
                         env=clean_env()).stdout)
    assert out["outside"] == []  # imported from the venv, not from the source tree
    assert out["intervals"] == sorted(["elevator", "boiler", "pressure_vessel", "pressure_piping", "gas_cylinder",
                                       "crane", "in_plant_vehicle", "large_amusement_ride", "passenger_ropeway"])
    assert out["code_tables"] == {d.name: sorted(p.stem for p in d.glob("*.toml"))
                                  for d in (ROOT / "semon/protocol/code_tables").iterdir()}
    assert out["migrations"] == sorted(p.name for p in (ROOT / "semon/db/migrations").glob("*.sql"))
    assert out["scenarios"] == sorted(p.stem for p in (ROOT / "simulators/scenarios").glob("*.toml"))
    assert out["static"] == sorted(p.name for p in (ROOT / "console/static").iterdir())
    assert out["index"].lower().startswith("<!doctype html")


def test_the_installed_command_simulates_and_migrates(installed: Path, tmp_path: Path, database_url: str) -> None:
    semon = installed / "bin" / "semon"
    done = run(semon, "simulate", "--dry-run", "--scenario", "entrapment-between-floors", cwd=tmp_path,
               env=clean_env())
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[:500]
    run(semon, "migrate", cwd=tmp_path, env=clean_env(SEMON_DATABASE_URL=database_url))
    done = run(semon, "registry", "rate", "--date", "2026-11-30", cwd=tmp_path,
               env=clean_env(SEMON_DATABASE_URL=database_url))
    assert json.loads(done.stdout.splitlines()[0])["dimension"] == "city"

"""The console's JavaScript run in node (pure modules only: no DOM)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from console.web import STATIC_DIR

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_module(script: str) -> None:
    """Run ``script`` as an ES module beside the console's static files; it must print "ok"."""
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", script], cwd=STATIC_DIR, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

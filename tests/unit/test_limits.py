"""A command raises its soft open-files limit to the hard one (its children inherit it)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    code = (
        "import resource\n"
        "from semon.limits import raise_open_files_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 256\n"
        "after = raise_open_files_limit()\n"
        "assert after == resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "assert after[0] == (hard if hard != resource.RLIM_INFINITY else 1_048_576), after\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})

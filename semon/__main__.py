"""``python -m semon``: the ``semon`` command, the composition root's (``assembly.cli``). The
one import of the kernel from above, allowed by name in the import contract: an entry point that
nothing imports."""

import sys

from assembly.cli import main

sys.exit(main())

"""The composition root: the CLI (``assembly.cli``, the ``semon`` command) and the processes it
assembles (``semon up`` and its parts). It imports every package; nothing imports it
(docs/architecture.md)."""

"""The open-files limit, raised where the system lets us.

Every connection is a file descriptor: a simulated city of 30,000 devices holds 30,000, and the
private broker that ``semon up`` starts inherits our limit. Many machines start programs with a
soft limit of 1,024 under a hard limit hundreds of times larger; the soft limit is ours to raise
up to the hard one, and nothing else is (that needs privileges or the service manager:
``LimitNOFILE=`` in a systemd unit, ``nofile`` in deploy/compose.yaml).
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

# Where the hard limit is unlimited: a soft limit this high is plenty and stays within fs.nr_open.
_UNLIMITED_TARGET = 1_048_576


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit (children inherit it);
    return (soft, hard) after. A refusal is logged and leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, target, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)

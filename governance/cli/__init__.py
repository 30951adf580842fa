"""The ``governance`` command line: a thin typer shell over the library.

Each command parses its options, calls the library, prints, and maps the
outcome to an exit code: 0 pass, 1 the gate failed, 2 bad input or config,
3 infrastructure (MLflow, storage), 4 security refusal, 70 internal error
(a bug: please report it with the output of ``--debug``). Expected errors
print one or two lines to stderr and no traceback; ``--debug`` shows it.

Every library import happens inside the command that needs it, so a command
loads only what it uses (``governance --version`` loads typer and rich only).

Files:

- ``_app.py``: the typer root and its command groups, ``--version``, the consoles,
  the guard that maps errors to exit codes, progress bars, atomic text writes.
- ``_tables.py``: every table and printout (results in, terminal text out).
- ``init.py``: ``init``, a commented config and policy for a data file.
- ``config.py``: ``config check``.
- ``data.py``: ``data generate``, ``data check``.
- ``run.py``: ``run`` and ``train``.
- ``audit.py``: ``audit`` of predictions in a file.
- ``gate.py``: ``gate --card``, offline.
- ``review.py``: ``review`` and ``promote``.
- ``explain.py``: ``explain --account``.
- ``subject.py``: ``subject access|correct|erase|withdraw-consent``.
- ``feedback.py``: ``feedback add``.
- ``ledger.py``: ``ledger verify``.
- ``monitor.py``: ``monitor`` of the champion on a new batch.
- ``card.py``: ``card export --format markdown|hf|annex-iv``.
"""

from __future__ import annotations

from governance.cli._app import INTERNAL_ERROR, app, main

# each command module registers its commands on ``app`` when imported; the order is the order of --help
# isort: off
from governance.cli import (
    init,
    config,
    data,
    run,
    audit,
    review,
    gate,
    explain,
    subject,
    feedback,
    ledger,
    monitor,
    card,
)
# isort: on

__all__ = ["INTERNAL_ERROR", "app", "main"]

_COMMANDS = (init, config, data, run, audit, review, gate, explain, subject, feedback, ledger, monitor, card)

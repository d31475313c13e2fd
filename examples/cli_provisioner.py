"""A provisioner for the ``grouperprov`` command: ``module:attribute`` names it.

Run it from a checkout, in a folder where it may keep two SQLite files::

    grouperprov plan --app-dir examples cli_provisioner:provisioner
    grouperprov sync --app-dir examples cli_provisioner:provisioner
    grouperprov sync --app-dir examples cli_provisioner:provisioner --group school:staff:math

Each command is a process of its own, as under cron or a systemd timer: the
target (``campus.db``) and the sync records (``campus-state.db``) are files
that outlive it, so the second ``sync`` finds everything in place and changes
nothing. ``provisioner`` is a function: the command calls it once, so nothing
is opened when the module is imported. The Grouper side here is the demo's
sample campus; yours is a ``GrouperSource`` of your own (see "Write your own
Grouper source" in docs/provisioner.md). ``GROUPERPROV_EXAMPLE_DIR`` says
where the files go (default: the current folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from grouperprov import Provisioner, ProvisionerConfig
from grouperprov.cli import DEMO_CONFIG, demo_campus
from grouperprov.stores import SqliteSyncStore
from grouperprov.targets import SqliteTableTarget


def provisioner() -> Provisioner:
    """The demo's provisioner, over files that outlive the command."""
    folder = Path(os.environ.get("GROUPERPROV_EXAMPLE_DIR", "."))
    target = SqliteTableTarget(
        folder / "campus.db",
        group_columns=("name", "description"),
        membership_columns=("group_name", "subject_id"),
    )
    return Provisioner(
        ProvisionerConfig.from_toml(DEMO_CONFIG),
        demo_campus(),
        target,
        SqliteSyncStore(folder / "campus-state.db"),
    )

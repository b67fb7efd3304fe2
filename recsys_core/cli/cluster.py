"""The ``--ray ADDRESS|local`` option every dataset command shares, and ``sweep``.

``--ray`` sets ``RECSYS_RAY_ADDRESS`` for this process and the workers it starts (see
:mod:`recsys_core.cluster`); without it the environment decides, and unset means the
local worker processes, as before.
"""

from __future__ import annotations

import argparse

# Commands that compute in this process and use Ray directly when it is set; the others
# (run, sweep) hand runs to a worker, which connects itself.
CONNECTING_COMMANDS = ("walks",)


def add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS|local",
        default=None,
        help="execute on Ray: 'local' starts one on this machine, host:port joins a "
        "cluster (default: $RECSYS_RAY_ADDRESS; unset = local worker processes)",
    )


def apply_ray_option(args: argparse.Namespace) -> None:
    """Make ``--ray`` the process's setting; connect for the commands that compute here."""
    from recsys_core import cluster

    value = getattr(args, "ray", None)
    if value:
        cluster.set_address(value)
    if cluster.enabled() and getattr(args, "command", None) in CONNECTING_COMMANDS:
        try:
            cluster.connect()
        except cluster.ClusterError as exc:
            raise ValueError(str(exc)) from exc


def register(sub: argparse._SubParsersAction) -> None:
    from recsys_core.cli.sweep import register_sweep

    register_sweep(sub)

"""Beyond one machine: the Ray executor (see ``docs/scaling.md``).

Nothing here imports Ray until a Ray address is set (``RECSYS_RAY_ADDRESS`` or ``--ray``):
without one, runs use the local worker processes as before.
"""

from recsys_core.cluster.executor import (
    ADDRESS_ENV,
    LOCAL,
    ClusterError,
    LocalHead,
    address,
    connect,
    connected,
    describe,
    enabled,
    local_head,
    set_address,
    shutdown,
)

__all__ = [
    "ADDRESS_ENV",
    "LOCAL",
    "ClusterError",
    "LocalHead",
    "address",
    "connect",
    "connected",
    "describe",
    "enabled",
    "local_head",
    "set_address",
    "shutdown",
]

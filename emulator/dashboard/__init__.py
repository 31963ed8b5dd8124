"""The local stack's dashboard: ``/_dashboard`` on the gateway (see emulator/README.md).

:mod:`emulator.dashboard.sources` reads the running stack, :mod:`emulator.dashboard.api`
answers the page's JSON requests, ``static/`` holds the page, its script and style.
"""

from __future__ import annotations

from emulator.dashboard.api import DashboardApi, is_dashboard_path
from emulator.dashboard.sources import DashboardConfig, DashboardSources
from shared.topology import Manifest


def local_dashboard(manifest: Manifest) -> DashboardApi:
    """The gateway's dashboard, for the stack whose environment ``up`` gave the gateway."""
    config = DashboardConfig.from_environment(manifest)
    return DashboardApi(DashboardSources(config), config.project_id)


__all__ = [
    "DashboardApi",
    "DashboardConfig",
    "DashboardSources",
    "is_dashboard_path",
    "local_dashboard",
]

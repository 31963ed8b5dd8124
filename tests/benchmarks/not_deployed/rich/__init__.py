"""Stands in for ``rich`` during the cold starts: no function's archive contains it.

``rich`` is in the development environment only (a test tool's dependency), and
structlog imports it when it finds it, which costs a cold start tens of milliseconds
that no deployed function pays. With this folder first on ``PYTHONPATH`` the import
fails as it does in a deployed archive, for every target alike.
"""

raise ImportError("rich is not part of any deployed function")

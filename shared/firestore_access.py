"""Firestore clients that hold only the access the function's manifest entry declares.

IAM enforces a function's Firestore access in the cloud: a read-only role on a
database, or none at all on the credentials database. The emulator enforces no IAM,
so the clients enforce the same declaration in code: every write through a read-only
client, and every use of a database the function may not reach, fails with the
``PermissionDenied`` Firestore itself would answer. The check runs in the cloud too,
where it only ever agrees with IAM; on the local stack it is what catches a function
that writes where its deployment could not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import firestore


def denied(database: str, what: str) -> Exception:
    from google.api_core.exceptions import PermissionDenied

    return PermissionDenied(  # type: ignore[no-untyped-call]
        f"Missing or insufficient permissions: this function may not {what} "
        f"Firestore database {database!r} (its manifest entry's `firestore` access)"
    )


def read_only_client(project: str, database: str) -> firestore.Client:
    """A client of ``database`` whose batches, transactions and bulk writers refuse writes."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.batch import WriteBatch
    from google.cloud.firestore_v1.transaction import Transaction

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise denied(database, "write to")

    class ReadOnlyBatch(WriteBatch):
        create = set = update = delete = refuse

    class ReadOnlyTransaction(Transaction):
        create = set = update = delete = refuse

    class ReadOnlyClient(firestore.Client):
        def batch(self) -> WriteBatch:
            return ReadOnlyBatch(self)

        def transaction(self, max_attempts: int = 5, read_only: bool = True) -> Transaction:
            # Read-only in Firestore too, whatever the caller asked: no locks taken.
            # (5 attempts: the client library's default.)
            return ReadOnlyTransaction(self, max_attempts=max_attempts, read_only=True)

        def bulk_writer(self, *_args: Any, **_kwargs: Any) -> Any:
            raise denied(database, "write to")

        @property
        def _firestore_api(self) -> Any:
            # Some writes (a document's delete) commit without a batch: refuse them
            # where every write ends, the API's commit.
            return _ReadOnlyApi(super()._firestore_api, database)

    client: firestore.Client = ReadOnlyClient(project=project, database=database)
    return client


class _ReadOnlyApi:
    """The Firestore API of a read-only client: a commit that carries writes is refused."""

    def __init__(self, api: Any, database: str) -> None:
        self._api = api
        self._database = database

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def commit(self, request: Any = None, **kwargs: Any) -> Any:
        writes = request.get("writes") if isinstance(request, dict) else None
        if writes or getattr(request, "writes", None):
            raise denied(self._database, "write to")
        return self._api.commit(request=request, **kwargs)

    def batch_write(self, *_args: Any, **_kwargs: Any) -> Any:
        raise denied(self._database, "write to")

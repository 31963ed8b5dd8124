"""Fixtures shared by every test layer.

Unit tests need nothing. Integration and end-to-end tests talk to the real
Firestore and Pub/Sub emulators: the ``emulators`` session fixture reuses ones
already answering at ``FIRESTORE_EMULATOR_HOST`` / ``PUBSUB_EMULATOR_HOST`` and
otherwise starts its own (ports from ``TRIBUTUM_TEST_FIRESTORE_PORT`` and
``TRIBUTUM_TEST_PUBSUB_PORT``) and stops them by process group at the end.
Each test session uses its own project id, so it never touches a running local
stack's data, nor another session's.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from emulator import emulators as emu
from tests.support.firestore_indexes import RECORDER, declared_indexes, missing_indexes

if TYPE_CHECKING:
    from google.cloud import firestore, pubsub_v1

# One project per test session: each test empties its project's database, so two sessions
# sharing one pair of emulators (or a running local stack's) must not share a project.
TEST_PROJECT_ID = (
    os.environ.get("TRIBUTUM_TEST_PROJECT_ID") or f"demo-tributum-{uuid.uuid4().hex[:10]}"
)
# Cloud Functions sets this on every deployed function; functions-framework then wraps
# sys.stdout per request. Every test layer runs with it, as the cloud does.
os.environ["LOG_EXECUTION_ID"] = "true"


@dataclass(frozen=True)
class Emulators:
    project_id: str
    firestore_address: str
    pubsub_address: str


def _configured(variable: str) -> tuple[str, int] | None:
    value = os.environ.get(variable)
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def _ensure(
    spec: emu.EmulatorSpec,
    variable: str,
    default_port: int,
    log_dir: Path,
    started: list[emu.RunningEmulator],
) -> str:
    configured = _configured(variable)
    if configured and emu.is_answering(*configured):
        return f"{configured[0]}:{configured[1]}"
    host, port = configured or ("127.0.0.1", default_port)
    if emu.is_answering(host, port):
        return f"{host}:{port}"
    running = emu.start_emulator(
        spec, port=port, host=host, project_id=TEST_PROJECT_ID, log_dir=log_dir
    )
    started.append(running)
    return running.address


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    try:
        emu.check_prerequisites(emu.FIRESTORE, emu.PUBSUB)
    except emu.EmulatorUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    started: list[emu.RunningEmulator] = []
    log_dir = Path(tempfile.mkdtemp(prefix="tributum-emulators-"))
    try:
        firestore_address = _ensure(
            emu.FIRESTORE,
            "FIRESTORE_EMULATOR_HOST",
            int(os.environ.get("TRIBUTUM_TEST_FIRESTORE_PORT", "8781")),
            log_dir,
            started,
        )
        pubsub_address = _ensure(
            emu.PUBSUB,
            "PUBSUB_EMULATOR_HOST",
            int(os.environ.get("TRIBUTUM_TEST_PUBSUB_PORT", "8782")),
            log_dir,
            started,
        )
        os.environ.update(
            {
                "FIRESTORE_EMULATOR_HOST": firestore_address,
                "PUBSUB_EMULATOR_HOST": pubsub_address,
                "GOOGLE_CLOUD_PROJECT": TEST_PROJECT_ID,
                "TRIBUTUM_PROJECT_ID": TEST_PROJECT_ID,
                "TRIBUTUM_ENV": "local",
            }
        )
        yield Emulators(TEST_PROJECT_ID, firestore_address, pubsub_address)
    finally:
        for running in reversed(started):
            emu.stop_process_group(running.pgid)


# The credentials database's id: shared.config's default, which the tests keep.
CREDENTIALS_DATABASE = "credentials"


@pytest.fixture(scope="session")
def _firestore_session_client(emulators: Emulators) -> firestore.Client:
    from google.cloud import firestore

    return firestore.Client(project=emulators.project_id)


@pytest.fixture(scope="session")
def _credentials_session_client(emulators: Emulators) -> firestore.Client:
    from google.cloud import firestore

    return firestore.Client(project=emulators.project_id, database=CREDENTIALS_DATABASE)


def _point_shared_code_at(emulators: Emulators) -> None:
    """Re-assert the emulator environment and drop cached settings and clients.

    Functions under test read settings and clients once per process; a test that changed
    either must not leak its project or hosts into the next one.
    """
    from shared.clients import reset_clients
    from shared.config import reset_settings

    os.environ.update(
        {
            "FIRESTORE_EMULATOR_HOST": emulators.firestore_address,
            "PUBSUB_EMULATOR_HOST": emulators.pubsub_address,
            "GOOGLE_CLOUD_PROJECT": emulators.project_id,
            "TRIBUTUM_PROJECT_ID": emulators.project_id,
            "TRIBUTUM_ENV": "local",
        }
    )
    reset_settings()
    reset_clients()


@pytest.fixture
def firestore_client(
    emulators: Emulators, _firestore_session_client: firestore.Client
) -> firestore.Client:
    """A client of the main database, on emptied emulator databases (the credentials
    database is emptied too); shared code points at them too."""
    _point_shared_code_at(emulators)
    emu.clear_firestore(emulators.firestore_address, emulators.project_id)
    emu.clear_firestore(emulators.firestore_address, emulators.project_id, CREDENTIALS_DATABASE)
    return _firestore_session_client


@pytest.fixture
def credentials_client(
    firestore_client: firestore.Client, _credentials_session_client: firestore.Client
) -> firestore.Client:
    """A client of the credentials database (users, sessions, key hashes, single-use
    tokens), emptied with the main one by ``firestore_client``."""
    return _credentials_session_client


@pytest.fixture(scope="session")
def pubsub_publisher(emulators: Emulators) -> pubsub_v1.PublisherClient:
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()


@pytest.fixture(scope="session")
def pubsub_subscriber(emulators: Emulators) -> Iterator[pubsub_v1.SubscriberClient]:
    from google.cloud import pubsub_v1

    client = pubsub_v1.SubscriberClient()
    yield client
    client.close()


@pytest.fixture
def unique_name() -> Any:
    """Unique, Pub/Sub-valid names so tests never share topics or subscriptions."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if f"{os.sep}integration{os.sep}" in path:
            item.add_marker(pytest.mark.integration)
        elif f"{os.sep}e2e{os.sep}" in path:
            item.add_marker(pytest.mark.e2e)


# -- Firestore indexes: the emulator never asks for one, production does -----------------------

_QUERIES = RECORDER
INDEX_CONFIG = Path(__file__).resolve().parents[1] / "infra" / "firestore_indexes.yaml"


def pytest_configure(config: pytest.Config) -> None:
    _QUERIES.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _QUERIES.uninstall()
    missing = missing_indexes(_QUERIES.shapes, declared_indexes(INDEX_CONFIG))
    if not missing:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  {need.describe()}" for need in missing]
    message = (
        "queries the tests ran need composite indexes missing from "
        "infra/firestore_indexes.yaml (production would refuse them):\n" + "\n".join(lines)
    )
    if reporter is not None:
        reporter.write_line(message, red=True)
    if session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

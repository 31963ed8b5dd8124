"""Schemathesis against the gateway: configuration, the allow-list and a readable report.

The engine is the one ``schemathesis run`` drives (examples, coverage, fuzzing and
stateful phases, every check), run in-process so the test can hand it a live token,
the ids it created, and the allow-list of business rules.

A failure of ``positive_data_acceptance`` (a request the schema allows was refused)
is dropped only when ``fuzz_allowlist.yaml`` names its operation, status and problem
code; every other failure of every check fails the test with the case and the answer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
import yaml
from requests.adapters import HTTPAdapter
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import context as engine_context
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData

ALLOWLIST_PATH = Path(__file__).resolve().parent / "fuzz_allowlist.yaml"
# What a schema-valid request may get without being a refusal: success, and 404 for an
# id the generator made up (another tenant's resources answer 404 too). A 401 or 403
# with the owner's live token, a 409, 422 or 429 is a refusal and needs a listed rule.
ACCEPTED_STATUSES = ["2xx", "404"]
_EXCERPT = 700


# -- the allow-list -------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedRejection:
    """A business rule that may refuse a schema-valid request: no schema can state it."""

    code: str
    status: int
    operations: frozenset[str]
    reason: str


class AllowList:
    """``fuzz_allowlist.yaml``: which refusals of schema-valid requests are rules."""

    def __init__(self, entries: Sequence[AllowedRejection]) -> None:
        self.entries = list(entries)
        self._by_key = {
            (operation, entry.status, entry.code): entry
            for entry in self.entries
            for operation in entry.operations
        }
        self._lock = threading.Lock()
        self.used: Counter[tuple[str, int, str]] = Counter()

    @classmethod
    def load(cls, path: Path = ALLOWLIST_PATH) -> AllowList:
        document = yaml.safe_load(path.read_text())
        entries = []
        problems = []
        for index, raw in enumerate(document or []):
            where = f"{path.name} entry {index + 1}"
            if not isinstance(raw, dict) or set(raw) != {"code", "status", "operations", "reason"}:
                problems.append(f"{where}: needs exactly code, status, operations and reason")
                continue
            operations = raw["operations"]
            if (
                not isinstance(raw["code"], str)
                or raw["code"] == "validation_error"
                or not isinstance(raw["status"], int)
                or not 400 <= raw["status"] < 500
                or not isinstance(operations, list)
                or not operations
                or not all(isinstance(op, str) and " /" in op for op in operations)
                or not isinstance(raw["reason"], str)
                or len(raw["reason"].split()) < 5
            ):
                problems.append(
                    f"{where}: a specific code (not validation_error), a 4xx status, "
                    "operations as 'METHOD /path' and a reason of a sentence"
                )
                continue
            entries.append(
                AllowedRejection(raw["code"], raw["status"], frozenset(operations), raw["reason"])
            )
        if problems:
            raise ValueError("\n".join(problems))
        return cls(entries)

    def operations(self) -> set[str]:
        return {operation for entry in self.entries for operation in entry.operations}

    def permits(self, operation: str, status: int, body: bytes) -> bool:
        """Whether every rule that refused this request is listed for the operation."""
        codes = problem_codes(body)
        if not codes:
            return False
        keys = [(operation, status, code) for code in codes]
        if not all(key in self._by_key for key in keys):
            return False
        with self._lock:
            self.used.update(keys)
        return True


def problem_codes(body: bytes) -> list[str]:
    """The codes a problem document refuses with: its field errors' codes, else its own."""
    try:
        problem = json.loads(body)
    except ValueError:
        return []
    if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
        return []
    errors = problem.get("errors")
    if isinstance(errors, list) and errors:
        codes = [error.get("code") for error in errors if isinstance(error, dict)]
        return codes if all(isinstance(code, str) for code in codes) else []
    return [problem["code"]]


# -- where requests come from ---------------------------------------------------------------


class SourceAddressAdapter(HTTPAdapter):
    """Connect from one loopback address: the API's per-address throttles (signup, login)
    then count the fuzz run apart from every other client of the same stack."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class AddressRotation(HTTPAdapter):
    """Sends each request from the next of a few loopback addresses, in turn."""

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__()
        self._adapters = [SourceAddressAdapter(address) for address in addresses]
        self._next = itertools.cycle(self._adapters)
        self._lock = threading.Lock()

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            adapter = next(self._next)
        return adapter.send(request, *args, **kwargs)

    def close(self) -> None:
        for adapter in self._adapters:
            adapter.close()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("http://", self)
        return session


@contextlib.contextmanager
def fuzzing_from(rotation: AddressRotation, guard: Callable[[Any], None]) -> Iterator[None]:
    """While inside, the engine's requests leave from ``rotation``'s addresses, and
    ``guard`` sees (and may edit) every case before it is sent."""
    original = engine_context.make_session

    def make_session(config: Any, *, operation: Any = None) -> requests.Session:
        session = original(config, operation=operation)
        session.mount("http://", rotation)
        return session

    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        guard(case)

    engine_context.make_session = make_session
    schemathesis.hook(before_call)
    try:
        yield
    finally:
        schemathesis.hooks.unregister(before_call)
        engine_context.make_session = original


# -- loading the document -------------------------------------------------------------------


def fetch_document(gateway_url: str, session: requests.Session) -> dict[str, Any]:
    response = session.get(f"{gateway_url}/openapi.json", timeout=30)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    assert not document.get("x-tributum-unavailable"), document.get("x-tributum-unavailable")
    return document


def with_path_examples(
    document: dict[str, Any], known: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The document with the ids the setup created as examples of the path parameters
    that take them, so id-taking operations reach real resources, not only 404s."""
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                values = known.get(parameter["name"]) if parameter["in"] == "path" else None
                if values:
                    parameter["examples"] = {
                        f"created-{index}": {"value": value} for index, value in enumerate(values)
                    }
    return document


@dataclass(frozen=True)
class FuzzSettings:
    max_examples: int
    seed: int
    # A time budget instead of a bound: the engine repeats its phases with new seeds until
    # it is spent. None: every phase once.
    max_seconds: int | None
    stateful: bool = True


def engine_config(gateway_url: str, settings: FuzzSettings) -> SchemathesisConfig:
    """What ``schemathesis run --checks all`` would use, with our acceptance rule."""
    config: dict[str, Any] = {
        "seed": settings.seed,
        "base-url": gateway_url,
        "workers": 1,
        "request-timeout": 60,
        # Nothing is written into the work tree: no crash cache, no example database.
        "cache": {"enabled": False},
        "generation": {"max-examples": settings.max_examples, "database": "none"},
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUSES}},
        "phases": {
            "stateful": {
                "enabled": settings.stateful,
                "inference": {"algorithms": ["location-headers", "dependency-analysis"]},
            }
        },
    }
    if settings.max_seconds:
        config["max-time"] = settings.max_seconds
    return SchemathesisConfig.from_dict(config)


# -- running and reporting ------------------------------------------------------------------


@dataclass
class Finding:
    """One failed check, with what it takes to reproduce and understand it."""

    check: str
    title: str
    message: str
    operation: str
    phase: str
    request: str
    status: int | None
    content_type: str | None
    body: str
    curl: str

    def key(self) -> tuple[str, str, int | None, tuple[str, ...]]:
        return (self.check, self.operation, self.status, tuple(problem_codes(self.body.encode())))

    def render(self) -> str:
        return "\n".join(
            [
                f"[{self.check}] {self.title} - {self.operation} ({self.phase} phase)",
                *(f"    {line}" for line in self.message.strip().splitlines()),
                f"  request:  {self.request}",
                f"  response: {self.status} {self.content_type or '(no content type)'}",
                f"            {self.body}",
                f"  reproduce: {self.curl}",
            ]
        )


@dataclass
class FuzzReport:
    name: str
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)
    allowed: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)
    phase_seconds: Counter[str] = field(default_factory=Counter)
    stop_reason: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.findings or self.errors)

    def distinct_findings(self) -> list[Finding]:
        seen: dict[Any, Finding] = {}
        for finding in self.findings:
            seen.setdefault(finding.key(), finding)
        return list(seen.values())

    def failures_by_check(self) -> Counter[str]:
        return Counter(
            name
            for (name, status), n in self.checks.items()
            if status == "failure"
            for _ in range(n)
        )

    def summary(self) -> str:
        by_check = ", ".join(
            f"{name} {count}" for name, count in sorted(self.failures_by_check().items())
        )
        checked = sorted({name for name, _ in self.checks})
        return "\n".join(
            [
                f"{self.name}: {len(self.operations)} operations, {self.cases} cases, "
                f"{sum(self.checks.values())} check results in {self.seconds:.0f}s "
                f"(stopped: {self.stop_reason})",
                f"  phases: {self._phases()}",
                f"  checks: {', '.join(checked)}",
                f"  failures by check: {by_check or 'none'}; allow-listed refusals: {self.allowed}",
            ]
        )

    def _phases(self) -> str:
        """Each phase's outcome, with the time its scenarios took where it ran any."""
        return ", ".join(
            f"{phase} {status}"
            + (f" {self.phase_seconds[phase]:.0f}s" if phase in self.phase_seconds else "")
            for phase, status in self.phases.items()
        )

    def render(self) -> str:
        distinct = self.distinct_findings()
        parts = [self.summary()]
        if self.errors:
            parts.append("errors:\n" + "\n".join(f"  {error}" for error in self.errors))
        if distinct:
            parts.append(f"{len(distinct)} distinct failures:")
            parts.extend(finding.render() for finding in distinct)
        return "\n\n".join(parts)


def _excerpt(content: bytes | None) -> str:
    if not content:
        return "(empty)"
    text = content.decode("utf-8", errors="replace")
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def _request_line(case: Any) -> str:
    line = f"{case.method} {case.formatted_path}"
    query = getattr(case, "query", None)
    if query:
        line += f" query={json.dumps(query, default=str)[:_EXCERPT]}"
    headers = {
        name: value
        for name, value in (getattr(case, "headers", None) or {}).items()
        if name.lower() != "authorization"
    }
    if headers:
        line += f" headers={json.dumps(headers, default=str)[:_EXCERPT]}"
    body = getattr(case, "body", None)
    if body is not None and type(body).__name__ != "NotSet":
        line += f" body={json.dumps(body, default=str)[:_EXCERPT]}"
    return line


def _collect(report: FuzzReport, phase: str, recorder: Any) -> None:
    report.cases += len(recorder.cases)
    report.allowed += sum(recorder.filtered_failures.values())
    for node in recorder.cases.values():
        report.operations.add(node.value.operation.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            report.checks[(check.name, str(check.status))] += 1
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            failing_id = failure.case_id or case_id
            case = recorder.cases[failing_id].value
            response = recorder.find_response(case_id=failing_id)
            report.findings.append(
                Finding(
                    check=check.name,
                    title=failure.title,
                    message=failure.message,
                    operation=case.operation.label,
                    phase=phase,
                    request=_request_line(case),
                    status=response.status_code if response is not None else None,
                    content_type=(
                        response.headers.get("content-type", [None])[0]
                        if response is not None
                        else None
                    ),
                    body=_excerpt(response.content if response is not None else None),
                    curl=check.failure_info.code_sample,
                )
            )


def run(
    name: str,
    document: dict[str, Any],
    config: SchemathesisConfig,
    allowlist: AllowList,
    *,
    include: Callable[[str], bool],
    configure: Callable[[Any], None] = lambda schema: None,
) -> FuzzReport:
    """Run every phase over the operations ``include`` keeps; collect a report."""
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema = schema.include(func=lambda ctx: include(ctx.operation.label))

    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        if not isinstance(failure, RejectedPositiveData):
            return True
        return not allowlist.permits(case.operation.label, response.status_code, response.content)

    schema.hook(filter_failure)
    configure(schema)
    report = FuzzReport(name)
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _collect(report, event.phase.value, event.recorder)
            report.phase_seconds[event.phase.value] += event.elapsed_time
        elif isinstance(event, events.PhaseFinished):
            report.phases[event.phase.name.value] = str(event.status.value)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason.value)
    report.seconds = time.monotonic() - started
    return report

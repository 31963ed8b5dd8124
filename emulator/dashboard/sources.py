"""What the dashboard shows, read live from the running stack; and its three actions.

Each panel reads where the stack keeps the truth: the state file and the logs
(functions), the Pub/Sub emulator's REST API (subscriptions), Firestore (dead
letters, documents, outbox, ledger), the scheduler's log, the mail sink. Dead
letters are replayed and discarded through ``shared.deadletters``, schedules run
through :func:`emulator.scheduler.fire`: the same code the API and ``python -m
emulator tick`` run.

Backlogs: the Pub/Sub emulator counts nothing. A push subscription is never pulled
here (a pulled message is one its function does not get, and every pull counts as a
delivery attempt towards the dead-letter topic); its pending work is shown as what
Firestore lists: outbox records not yet published and dead letters stored. Only pull
subscriptions, which no function consumes, are peeked: pulled without acknowledging,
then handed back at once (ack deadline 0).
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from emulator import log_view, mail_sink, scheduler, webhook_sink
from emulator.runtime_contract import CREDENTIALS_DATABASE
from emulator.settings import StackConfig
from emulator.state import load_state
from shared import errors
from shared.identity.actor import Actor
from shared.topology import Manifest

SEVERITIES = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")
DASHBOARD_ACTOR = Actor.system("local-dashboard")
MAX_LOG_LINES = 500
LOG_SCAN_LINES = 5000
MAX_LISTED = 300
MAX_SCANNED = 2000
# Fields worth a glance in a log line, shown after its message.
_SUMMARY_FIELDS = ("method", "path", "status", "code", "detail", "topic", "event_type", "error")
PEEK_LIMIT = 1000
_SEGMENT = re.compile(r"^[^/]{1,1500}$")
# Firestore browser paths in the credentials database start with this.
CREDENTIALS_PREFIX = "credentials:"
_TENANT = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    project_id: str
    manifest: Manifest
    stack: StackConfig
    firestore_address: str
    pubsub_address: str
    # The stack's mail sink (``up`` runs it, or uses the one already there): the fixed
    # address the functions' transport URL names.
    mail_url: str = f"http://{mail_sink.SINK_HOST}:{mail_sink.DEFAULT_SINK_PORT}"
    # The webhook sink (``python -m emulator webhook-sink``), the one private address the
    # stack's webhooks may reach.
    webhook_sink_url: str = f"http://{webhook_sink.SINK_HOST}:{webhook_sink.DEFAULT_SINK_PORT}"

    @classmethod
    def from_environment(
        cls, manifest: Manifest, env: Mapping[str, str] | None = None
    ) -> DashboardConfig:
        """The gateway's: ``up`` starts it with the stack's project and emulator hosts."""
        env = os.environ if env is None else env
        project_id = env.get("TRIBUTUM_PROJECT_ID") or StackConfig().project_id
        stack = StackConfig(project_id=project_id)
        return cls(
            project_id=project_id,
            manifest=manifest,
            stack=stack,
            firestore_address=env.get("FIRESTORE_EMULATOR_HOST") or stack.firestore_address,
            pubsub_address=env.get("PUBSUB_EMULATOR_HOST") or stack.pubsub_address,
        )


def _json_safe(value: Any) -> Any:
    """A Firestore value as JSON: instants as ISO text, bytes as base64, references as paths."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"bytes_base64": base64.b64encode(value).decode()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    path = getattr(value, "path", None)
    if isinstance(path, str):
        return {"reference": path}
    return str(value)


def not_found(field: str, message: str, code: str) -> errors.NotFoundError:
    """A 404 problem document that names the field which named nothing."""
    return errors.NotFoundError(
        message, code=code, errors=[errors.FieldError(field, message, code)]
    )


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class DashboardSources:
    """The reads and actions behind ``/_dashboard/api``; clients are made on first use."""

    def __init__(self, config: DashboardConfig, *, db: Any = None) -> None:
        self.config = config
        self._db = db  # a Firestore client; made on first use when not given
        self._credentials_db: Any = None

    # -- clients ---------------------------------------------------------------------------

    def db(self) -> Any:
        if self._db is None:
            from google.cloud import firestore

            # Explicit, so the gateway's own environment decides nothing else.
            os.environ.setdefault("FIRESTORE_EMULATOR_HOST", self.config.firestore_address)
            self._db = firestore.Client(project=self.config.project_id)
        return self._db

    def credentials_db(self) -> Any:
        """The credentials database of the same emulator (users, sessions, key hashes)."""
        if self._credentials_db is None:
            from google.cloud import firestore

            os.environ.setdefault("FIRESTORE_EMULATOR_HOST", self.config.firestore_address)
            self._credentials_db = firestore.Client(
                project=self.config.project_id, database=CREDENTIALS_DATABASE
            )
        return self._credentials_db

    def _pubsub(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = f"http://{self.config.pubsub_address}/v1/projects/{self.config.project_id}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read() or b"{}")
        return answer if isinstance(answer, dict) else {}

    # -- functions and logs ----------------------------------------------------------------

    def functions(self) -> dict[str, Any]:
        from emulator.stack import component_statuses

        state = load_state(self.config.stack.state_path)
        if state is None:
            return {"running": False, "components": []}
        records = {r.name: r for r in state.processes}
        components = []
        for status in component_statuses(state):
            # No record: a mail sink the stack uses but did not start (no log of its own).
            record = records.get(status.name) if status.owned else None
            components.append(
                {
                    "name": status.name,
                    "role": status.role,
                    "kind": (record.kind if record else "") or None,
                    "port": status.port,
                    "pgid": status.pgid,
                    "running": status.running,
                    "answering": status.answering,
                    "healthy": status.healthy,
                    "owned": status.owned,
                    "restarts": record.restarts if record else 0,
                    "log": Path(record.log).stem if record else None,
                }
            )
        return {"running": True, "started_at": state.started_at, "components": components}

    def log_names(self) -> list[str]:
        from emulator.stack import log_files

        return sorted(path.stem for path in log_files(self.config.stack, None))

    def logs(
        self, name: str | None, lines: int, severity: str | None, correlation_id: str | None
    ) -> list[dict[str, Any]]:
        from emulator.stack import follow_lines, log_files

        if name is not None and name not in self.log_names():
            raise not_found("log", f"no log named {name!r}", "log_not_found")
        paths = log_files(self.config.stack, name)
        minimum = severity_rank(severity) if severity else None
        kept: list[dict[str, Any]] = []
        for source, line in follow_lines(paths, LOG_SCAN_LINES, follow=False):
            record = log_view.parse(line)
            if correlation_id is not None and not log_view.keep(line, correlation_id):
                continue
            level = str(record.get("severity", "DEFAULT")) if record else None
            if minimum is not None and (level is None or severity_rank(level) < minimum):
                continue
            kept.append(
                {
                    "log": source,
                    "time": str(record.get("time", "")) if record else "",
                    "severity": level,
                    "message": str(record.get("message", "")) if record else line,
                    "correlation_id": log_view.correlation_id_of(record) if record else None,
                    "summary": _summary(record),
                    "line": line,
                }
            )
        if len(paths) > 1:
            kept.sort(key=lambda entry: entry["time"])  # stable: untimed lines keep their place
        return kept[-lines:]

    # -- topics ----------------------------------------------------------------------------

    def _peek(self, subscription: str) -> int:
        """Messages waiting on a pull subscription: pulled unacknowledged, handed back at once."""
        answer = self._pubsub(
            "POST",
            f"/subscriptions/{subscription}:pull",
            {"maxMessages": PEEK_LIMIT, "returnImmediately": True},
        )
        ack_ids = [m["ackId"] for m in answer.get("receivedMessages", [])]
        if ack_ids:
            self._pubsub(
                "POST",
                f"/subscriptions/{subscription}:modifyAckDeadline",
                {"ackIds": ack_ids, "ackDeadlineSeconds": 0},
            )
        return len(ack_ids)

    def topics(self) -> list[dict[str, Any]]:
        listed = self._pubsub("GET", "/subscriptions?pageSize=1000").get("subscriptions", [])
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for sub in listed:
            topic_name = str(sub.get("topic", "")).rsplit("/", 1)[-1]
            name = str(sub.get("name", "")).rsplit("/", 1)[-1]
            endpoint = (sub.get("pushConfig") or {}).get("pushEndpoint")
            dead_letter = (sub.get("deadLetterPolicy") or {}).get("deadLetterTopic")
            by_topic.setdefault(topic_name, []).append(
                {
                    "name": name,
                    "type": "push" if endpoint else "pull",
                    "push_endpoint": endpoint,
                    "dead_letter_topic": dead_letter.rsplit("/", 1)[-1] if dead_letter else None,
                    "max_delivery_attempts": (sub.get("deadLetterPolicy") or {}).get(
                        "maxDeliveryAttempts"
                    ),
                    "backlog": None if endpoint else self._peek(name),
                }
            )
        from google.cloud.firestore_v1.base_query import FieldFilter

        db = self.db()
        stored = Counter(
            (str(d.get("topic")), str(d.get("status")))
            for d in (
                s.to_dict() or {}
                for s in db.collection("dead_letters").select(["topic", "status"]).stream()
            )
        )
        # Both databases stage events: the identity use cases in the credentials one.
        pending = Counter(
            str((s.to_dict() or {}).get("topic"))
            for database in (db, self.credentials_db())
            for s in database.collection("outbox")
            .where(filter=FieldFilter("status", "==", "pending"))
            .select(["topic"])
            .stream()
        )
        rows = []
        for topic in self.config.manifest.topics:
            names = (topic.name, topic.dead_letter_topic)
            rows.append(
                {
                    "name": topic.name,
                    "public": bool(getattr(topic, "public", False)),
                    "scheduled": topic.schedule is not None,
                    "outbox_pending": pending.get(topic.name, 0),
                    "dead_letters_stored": stored.get((topic.name, "stored"), 0),
                    "dead_letters_total": sum(
                        n for (t, _status), n in stored.items() if t == topic.name
                    ),
                    "subscriptions": [s for name in names for s in by_topic.get(name, [])],
                }
            )
        return rows

    # -- dead letters ----------------------------------------------------------------------

    def dead_letters(self, status: str | None) -> list[dict[str, Any]]:
        from shared.deadletters.store import DEAD_LETTER_COLLECTION, DeadLetter

        # Newest first over one field's index; the status is picked here, so the dashboard
        # needs no composite index of its own.
        newest = (
            self.db()
            .collection(DEAD_LETTER_COLLECTION)
            .order_by("first_seen", direction="DESCENDING")
            .limit(MAX_SCANNED)
        )
        letters = [DeadLetter.from_document(d.id, d.to_dict() or {}) for d in newest.stream()]
        kept = [d for d in letters if status is None or d.status == status]
        return [d.to_json() for d in kept[:MAX_LISTED]]

    def _dead_letter_owner(self, dead_letter_id: str) -> str | None:
        from shared.deadletters.store import DEAD_LETTER_COLLECTION

        snapshot = self.db().collection(DEAD_LETTER_COLLECTION).document(dead_letter_id).get()
        if not snapshot.exists:
            raise not_found(
                "dead_letter_id", f"dead letter {dead_letter_id} not found", "dead_letter_not_found"
            )
        owner = (snapshot.to_dict() or {}).get("tenant_id")
        return owner if isinstance(owner, str) else None

    def replay_dead_letter(self, dead_letter_id: str) -> dict[str, Any]:
        from shared.deadletters import store

        # The record's own tenant, which may be none (tenant_id null): the use case only
        # checks that the record belongs to the tenant it is given, and an operator here
        # acts for every tenant.
        owner = self._dead_letter_owner(dead_letter_id)
        return store.replay(self.db(), owner, dead_letter_id, actor=DASHBOARD_ACTOR).to_json()  # type: ignore[arg-type]

    def discard_dead_letter(self, dead_letter_id: str, note: str | None) -> dict[str, Any]:
        from shared.deadletters import store

        owner = self._dead_letter_owner(dead_letter_id)
        discarded = store.discard(
            self.db(),
            owner,  # type: ignore[arg-type]  # the record's own tenant, maybe none (see replay)
            dead_letter_id,
            actor=DASHBOARD_ACTOR,
            note=note,
        )
        return discarded.to_json()

    # -- Firestore -------------------------------------------------------------------------

    def firestore(self, path: str) -> dict[str, Any]:
        """A node of either database; paths in the credentials one start ``credentials:``."""
        prefix = CREDENTIALS_PREFIX if path.startswith(CREDENTIALS_PREFIX) else ""
        segments = [s for s in path[len(prefix) :].split("/") if s] if path else []
        if any(not _SEGMENT.match(s) or s in (".", "..") for s in segments):
            raise errors.ValidationError.for_field(
                "path", "a Firestore path is collection/document/... segments"
            )
        db = self.credentials_db() if prefix else self.db()
        if not segments:
            collections = sorted(c.id for c in self.db().collections())
            collections += sorted(
                CREDENTIALS_PREFIX + c.id for c in self.credentials_db().collections()
            )
            return {"kind": "root", "path": "", "collections": collections}
        if len(segments) % 2 == 1:
            collection = db.collection(*segments)
            refs = list(islice(collection.list_documents(page_size=MAX_LISTED), MAX_LISTED + 1))
            return {
                "kind": "collection",
                "path": prefix + "/".join(segments),
                "documents": [r.id for r in refs[:MAX_LISTED]],
                "truncated": len(refs) > MAX_LISTED,
            }
        reference = db.document(*segments)
        snapshot = reference.get()
        return {
            "kind": "document",
            "path": prefix + "/".join(segments),
            "exists": snapshot.exists,
            "data": _json_safe(snapshot.to_dict()) if snapshot.exists else None,
            "collections": sorted(c.id for c in reference.collections()),
        }

    # -- schedules -------------------------------------------------------------------------

    def _scheduler_log(self) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
        """The scheduler's last start line and each topic's last tick, from its log."""
        path = self.config.stack.log_dir / "scheduler.log"
        started: dict[str, Any] | None = None
        ticks: dict[str, dict[str, Any]] = {}
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return None, {}
        for line in lines:
            record = log_view.parse(line)
            if record is None:
                continue
            if record.get("message") == scheduler.STARTED_EVENT:
                started, ticks = record, {}
            elif record.get("message") == "scheduler.tick" and isinstance(record.get("topic"), str):
                ticks[record["topic"]] = record
        return started, ticks

    def schedules(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or datetime.now(UTC)
        started, ticks = self._scheduler_log()
        speedup = float(started.get("speedup", 1)) if started else 1.0
        began = _instant(started.get("time")) if started else None
        rows = []
        for schedule in scheduler.scheduled_topics(self.config.manifest):
            # The scheduler's clock runs `speedup` times faster from its start: the next
            # tick on that clock, in real time.
            origin = began or now
            clock_now = origin + (now - origin) * speedup
            due = schedule.next_after(clock_now)
            real = origin + (due - origin) / speedup
            last = ticks.get(schedule.topic)
            rows.append(
                {
                    "topic": schedule.topic,
                    "cron": schedule.cron,
                    "time_zone": schedule.time_zone,
                    "speedup": speedup,
                    "next_tick": real.isoformat(),
                    "last_tick": last.get("time") if last else None,
                    "scheduler_running": started is not None,
                }
            )
        return rows

    def run_schedule(self, topic: str) -> dict[str, Any]:
        names = [t.topic for t in scheduler.scheduled_topics(self.config.manifest)]
        if topic not in names:
            message = f"{topic!r} has no schedule in the manifest"
            raise not_found("topic", message, "schedule_not_found")
        message_id = scheduler.fire(
            self.config.manifest, topic, self.config.pubsub_address, self.config.project_id
        )
        return {"topic": topic, "message_id": message_id}

    # -- mail sink and ledger --------------------------------------------------------------

    def mail(self) -> dict[str, Any]:
        url = f"{self.config.mail_url}{mail_sink.MAILBOX_PATH}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                messages = json.loads(response.read() or b"[]")
        except (OSError, ValueError, urllib.error.URLError):
            return {"running": False, "url": url, "messages": []}
        listed = messages if isinstance(messages, list) else []
        return {"running": True, "url": url, "messages": listed}

    def webhook_deliveries(self) -> dict[str, Any]:
        """What the webhook sink received, newest last: who, which event, what it answered.

        Bodies and signatures stay in the sink (``GET /_sink/deliveries``); a panel row
        names the delivery, which is what watching retries needs.
        """
        url = f"{self.config.webhook_sink_url}{webhook_sink.CONTROL_PREFIX}/deliveries"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                received = json.loads(response.read() or b"[]")
        except (OSError, ValueError, urllib.error.URLError):
            return {"running": False, "url": url, "deliveries": []}
        rows = []
        for item in received if isinstance(received, list) else []:
            headers = item.get("headers") or {}
            try:
                event = json.loads(item.get("body") or "{}")
            except ValueError:
                event = {}
            rows.append(
                {
                    "received_at": item.get("received_at"),
                    "path": item.get("path"),
                    "webhook_id": headers.get("webhook-id"),
                    "event_type": event.get("type") if isinstance(event, dict) else None,
                    "answered": item.get("answered"),
                }
            )
        return {"running": True, "url": url, "deliveries": rows}

    def tenants(self) -> list[str]:
        # A tenant exists from its signup (credentials database) or its books (main).
        ids = {
            r.id
            for database in (self.db(), self.credentials_db())
            for r in islice(
                database.collection("tenants").list_documents(page_size=MAX_LISTED), MAX_LISTED
            )
        }
        return sorted(ids)[:MAX_LISTED]

    def trial_balance(self, tenant_id: str) -> dict[str, Any]:
        from shared.ledger.service import LedgerService

        if not _TENANT.match(tenant_id):
            raise errors.ValidationError.for_field("tenant", "not a tenant id")
        # Reads only: no publisher, nothing is written.
        balance = LedgerService(self.db(), publisher=None).trial_balance(tenant_id)
        return {"tenant_id": tenant_id, **balance.to_json()}


def _summary(record: dict[str, Any] | None) -> str:
    """The fields of a log line worth a glance, after its message."""
    if record is None:
        return ""
    return " ".join(f"{key}={record[key]}" for key in _SUMMARY_FIELDS if key in record)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""Bring the whole local stack up, report on it, and take it down again.

``up`` records every process group in the state file the moment it starts, so a
crash half-way still leaves ``down`` everything it needs. If ``up`` fails it
stops what it started, so a stack is either fully up or not there at all.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from emulator import emulators as emu
from emulator import mail_part, mail_sink, snapshots
from emulator.launch import (
    FunctionSource,
    function_command,
    function_env,
    function_markers,
    helper_command,
    helper_env,
    probe_path,
    resolve_source,
    stage_source,
)
from emulator.log_files import follow_lines as follow_lines
from emulator.log_files import log_files as log_files
from emulator.processes import (
    group_alive,
    group_matches,
    http_status,
    log_since,
    log_size,
    log_tail,
    port_open,
    start_detached,
    stop_groups,
)
from emulator.progress import Progress, part_name
from emulator.pubsub_setup import apply_plan, build_plan
from emulator.readiness import NotReadyError, wait_until_ready
from emulator.runtime_contract import CREDENTIALS_DATABASE
from emulator.scheduler import STARTED_EVENT as SCHEDULER_STARTED
from emulator.scheduler import scheduled_topics
from emulator.settings import StackConfig, check_port_clashes, function_ports
from emulator.state import (
    STOP_ORDER,
    ProcessRecord,
    StackState,
    load_state,
    remove_state,
    save_state,
)
from shared.topology import Function, Manifest, load_manifest

Say = Callable[[str], None]
GATEWAY_HEALTH_PATH = "/_gateway/health"
READINESS_PATH = "/v1/health/ready"
_EMULATORS = {"firestore": emu.FIRESTORE, "pubsub": emu.PUBSUB}


class StackError(RuntimeError):
    """The stack cannot be brought up or down; the message says why and what to do."""


def _emulator_port(config: StackConfig, name: str) -> int:
    return config.firestore_port if name == "firestore" else config.pubsub_port


def _emulator_markers(host: str, port: int) -> list[str]:
    # The gcloud wrapper shows --host-port=H:P; its Java child shows --port=P.
    return [f"--host-port={host}:{port} ", f"--port={port} "]


def _new_state(config: StackConfig) -> StackState:
    return StackState(
        project_id=config.project_id,
        host=config.host,
        gateway_port=config.gateway_port,
        firestore_port=config.firestore_port,
        pubsub_port=config.pubsub_port,
        functions_base_port=config.functions_base_port,
        manifest=str(config.manifest_path),
        from_build=config.from_build,
    )


def _owned(record: ProcessRecord) -> bool:
    return group_matches(record.pgid, record.markers)


# -- up -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpPlan:
    manifest: Manifest
    ports: dict[str, int]
    sources: dict[str, FunctionSource]


def prepare(config: StackConfig) -> UpPlan:
    """Everything that can be checked before anything starts."""
    manifest = load_manifest(config.manifest_path)
    ports = function_ports(manifest, config.functions_base_port)
    check_port_clashes(config, ports)
    emu.check_prerequisites(emu.FIRESTORE, emu.PUBSUB)
    sources = {fn.name: resolve_source(fn, config) for fn in manifest.functions}
    return UpPlan(manifest, ports, sources)


def _carry_over(config: StackConfig, previous: StackState | None, say: Say) -> StackState:
    """Keep the previous run's emulators if they still answer; stop everything else of it."""
    state = _new_state(config)
    if previous is None:
        return state
    restart = []
    for record in previous.processes:
        if not _owned(record):
            continue  # already gone (or its group id now belongs to someone else)
        reusable = (
            record.role == "emulator"
            and record.port == _emulator_port(config, record.name)
            and emu.is_answering(config.host, record.port)
        ) or (record.role == "mail_sink" and mail_part.answers(record.port))
        if reusable:
            state.put(record)
            say(f"reusing the running {record.name} emulator on port {record.port}")
        else:
            restart.append(record)
    if restart:
        say("restarting " + ", ".join(r.name for r in restart))
        stop_groups(r.pgid for r in sorted(restart, key=lambda r: STOP_ORDER.index(r.role)))
        wait_ports_released(config.host, [r.port for r in restart if r.port is not None])
    return state


def wait_ports_released(host: str, ports: list[int], timeout: float = 10.0) -> None:
    """Wait for the stopped processes' listening sockets to close.

    A group counts as stopped once its leader is a zombie, but the kernel closes the
    sockets only when the last thread of the process has exited, a moment later on a
    busy machine; checking the ports before then would blame the stack's own ports.
    """
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        pending = [port for port in pending if port_open(host, port, timeout=0.2)]
        if pending:
            time.sleep(0.1)


def _refuse_taken_ports(config: StackConfig, ports: dict[str, int], state: StackState) -> None:
    wanted: dict[str, tuple[int, str]] = {
        "gateway": (config.gateway_port, "--gateway-port / TRIBUTUM_GATEWAY_PORT"),
        **{
            f"function {name}": (port, "--functions-base-port / TRIBUTUM_FUNCTIONS_BASE_PORT")
            for name, port in ports.items()
        },
    }
    for name in _EMULATORS:
        if state.find(name) is None:
            flag = f"--{name}-port / TRIBUTUM_{name.upper()}_PORT"
            wanted[f"{name} emulator"] = (_emulator_port(config, name), flag)
    taken = [
        f"port {port} ({what}; change it with {flag})"
        for what, (port, flag) in wanted.items()
        if port_open(config.host, port)
    ]
    if taken:
        raise StackError(
            f"ports needed by stack '{config.project_id}' are in use by processes that are not "
            f"part of it (its state file is {config.state_path}): "
            + "; ".join(taken)
            + ". Stop those processes, or choose other ports."
        )


def _start_emulators(
    config: StackConfig, state: StackState, timeout: float, progress: Progress
) -> None:
    launched = []
    for name, spec in _EMULATORS.items():
        if state.find(name) is not None:
            continue
        port = _emulator_port(config, name)
        progress.starting(part_name(name, "emulator"), f"on port {port}")
        running, process = emu.launch_emulator(
            spec, port=port, project_id=config.project_id, log_dir=config.log_dir, host=config.host
        )
        state.put(
            ProcessRecord(
                name=name,
                role="emulator",
                pgid=running.pgid,
                port=port,
                log=str(running.log_path),
                markers=_emulator_markers(config.host, port),
            )
        )
        save_state(config.state_path, state)
        launched.append((running, process))
    _wait_until(
        {
            r.spec.name: functools.partial(emu.is_answering, r.host, r.port)
            for r, _process in launched
        },
        {r.spec.name: process for r, process in launched},
        {r.spec.name: r.log_path for r, _process in launched},
        timeout,
        progress,
        roles=dict.fromkeys(_EMULATORS, "emulator"),
    )


def start_function(
    config: StackConfig, plan: UpPlan, fn: Function, state: StackState
) -> subprocess.Popen[bytes]:
    """Stage one function's archive layout (source tree), start it, record its group."""
    port = plan.ports[fn.name]
    source = plan.sources[fn.name]
    stage_source(fn, config, source)
    log_path = config.log_dir / f"{fn.name}.log"
    process = start_detached(
        function_command(source),
        log_path=log_path,
        env=function_env(plan.manifest, fn, config, port),
        cwd=source.folder,
    )
    state.put(
        ProcessRecord(
            name=fn.name,
            role="function",
            pgid=process.pid,
            port=port,
            log=str(log_path),
            markers=function_markers(port),
            kind=fn.kind,
        )
    )
    save_state(config.state_path, state)
    return process


def _start_functions(
    config: StackConfig, plan: UpPlan, state: StackState, progress: Progress
) -> dict[str, subprocess.Popen[bytes]]:
    processes = {}
    for fn in plan.manifest.functions:
        progress.starting(part_name(fn.name, "function"), f"on port {plan.ports[fn.name]}")
        processes[fn.name] = start_function(config, plan, fn, state)
    return processes


def function_answers(fn: Function, host: str, port: int) -> bool:
    """An HTTP function answers any status to GET of its first route; an event one, TCP."""
    path = probe_path(fn)
    if path is None:
        return port_open(host, port)
    return http_status(f"http://{host}:{port}{path}", timeout=5.0) is not None


def _wait_until(
    checks: dict[str, Callable[[], bool]],
    processes: dict[str, subprocess.Popen[bytes]],
    logs: dict[str, Path],
    timeout: float,
    progress: Progress | None = None,
    *,
    roles: Mapping[str, str] | None = None,
) -> None:
    """Wait for every check; each part is reported ready as its check first passes."""
    roles = roles or {}
    pending = dict(checks)
    deadline = time.monotonic() + timeout
    while pending:
        for name in list(pending):
            if processes[name].poll() is not None:
                raise StackError(
                    f"{name} exited with status {processes[name].returncode} while starting; "
                    f"end of {logs[name]}:\n{log_tail(logs[name])}"
                )
            if pending[name]():
                del pending[name]
                if progress is not None:
                    progress.ready(part_name(name, roles.get(name, "")))
        if not pending:
            return
        if progress is not None:
            progress.waiting(part_name(name, roles.get(name, "")) for name in pending)
        if time.monotonic() > deadline:
            names = ", ".join(pending)
            raise StackError(
                f"{names} did not answer within {timeout:.0f}s; see "
                + ", ".join(str(logs[n]) for n in pending)
            )
        time.sleep(0.2)


def _start_helpers(
    config: StackConfig,
    manifest: Manifest,
    state: StackState,
    log_offsets: dict[str, int],
    progress: Progress,
) -> dict[str, subprocess.Popen[bytes]]:
    processes = {}
    gateway_log = config.log_dir / "gateway.log"
    progress.starting("gateway", f"on port {config.gateway_port}")
    gateway = start_detached(
        helper_command(
            "_gateway",
            "--port",
            str(config.gateway_port),
            "--host",
            config.host,
            "--manifest",
            str(config.manifest_path),
            "--functions-base-port",
            str(config.functions_base_port),
        ),
        log_path=gateway_log,
        env=helper_env(config),
        cwd=config.repo_root,
    )
    state.put(
        ProcessRecord(
            name="gateway",
            role="gateway",
            pgid=gateway.pid,
            port=config.gateway_port,
            log=str(gateway_log),
            markers=[f"_gateway --port {config.gateway_port} "],
        )
    )
    save_state(config.state_path, state)
    processes["gateway"] = gateway
    if scheduled_topics(manifest):
        scheduler_log = config.log_dir / "scheduler.log"
        log_offsets["scheduler"] = log_size(scheduler_log)
        progress.starting("scheduler")
        scheduler = start_detached(
            helper_command(
                "_scheduler",
                "--project",
                config.project_id,
                "--pubsub-address",
                config.pubsub_address,
                "--manifest",
                str(config.manifest_path),
                "--speedup",
                str(config.schedule_speedup),
            ),
            log_path=scheduler_log,
            env=helper_env(config),
            cwd=config.repo_root,
        )
        state.put(
            ProcessRecord(
                name="scheduler",
                role="scheduler",
                pgid=scheduler.pid,
                port=None,
                log=str(scheduler_log),
                markers=[f"_scheduler --project {config.project_id} "],
            )
        )
        save_state(config.state_path, state)
        processes["scheduler"] = scheduler
    return processes


def _wait_for_readiness(config: StackConfig, manifest: Manifest, timeout: float) -> None:
    """Return once the readiness route answers 200 through the gateway, if there is one.

    Answering at all is not being ready: the emulators' first request can take seconds on
    a busy machine, so ``up`` returns only when a client's first call would succeed.
    """
    routed = any(
        route.method == "GET" and route.path == READINESS_PATH
        for fn in manifest.functions
        for route in fn.routes
    )
    if not routed:
        return
    try:
        wait_until_ready(f"{config.gateway_url}{READINESS_PATH}", timeout=timeout)
    except NotReadyError as exc:
        raise StackError(str(exc)) from None


def up(
    config: StackConfig,
    *,
    say: Say = print,
    timeout: float = 120.0,
    import_from: Path | None = None,
) -> StackState:
    """Start (or restart) the stack of ``config``; returns once every part answers.

    ``import_from``: a folder written by ``down --export``, loaded into Firestore
    before any function starts; checked before anything is stopped or started.
    """
    progress = Progress(say)
    export = snapshots.find_export(import_from) if import_from is not None else None
    plan = prepare(config)
    with progress.beating("the previous run's processes to stop"):
        state = _carry_over(config, load_state(config.state_path), progress.line)
    save_state(config.state_path, state)
    try:
        _refuse_taken_ports(config, plan.ports, state)
        try:
            sink = mail_part.start_or_reuse(config, state, progress)
        except mail_part.MailSinkConflictError as exc:
            raise StackError(str(exc)) from None
        kept = state.find("firestore") is not None
        _start_emulators(config, state, timeout, progress)
        if export is not None:
            with progress.during("Firestore data", f"importing {export.parent}", "imported"):
                snapshots.replace_with_export(
                    config.firestore_address, config.project_id, export, kept=kept
                )
        with progress.during("Pub/Sub topology", "applying"):
            apply_plan(
                build_plan(plan.manifest, config.project_id, plan.ports, config.host),
                config.pubsub_address,
                config.project_id,
            )
        processes = _start_functions(config, plan, state, progress)
        log_offsets: dict[str, int] = {}
        processes.update(_start_helpers(config, plan.manifest, state, log_offsets, progress))
        if sink is not None:
            processes[mail_part.NAME] = sink
        logs = {r.name: Path(r.log) for r in state.processes}
        checks: dict[str, Callable[[], bool]] = {
            fn.name: functools.partial(function_answers, fn, config.host, plan.ports[fn.name])
            for fn in plan.manifest.functions
        }
        checks["gateway"] = lambda: http_status(f"{config.gateway_url}{GATEWAY_HEALTH_PATH}") == 200
        if sink is not None:
            checks[mail_part.NAME] = mail_part.answers
        if "scheduler" in processes:
            # No port to probe: it is up once it has read the manifest and said so.
            checks["scheduler"] = lambda: (
                SCHEDULER_STARTED in log_since(logs["scheduler"], log_offsets["scheduler"])
            )
        roles = {r.name: r.role for r in state.processes}
        _wait_until(checks, processes, logs, timeout, progress, roles=roles)
        with progress.during(f"GET {READINESS_PATH}", "waiting through the gateway"):
            _wait_for_readiness(config, plan.manifest, timeout)
        progress.line("every part is ready")
    except BaseException:
        leftovers = stop_stack(state)
        if not leftovers:
            remove_state(config.state_path)
        raise
    return state


def describe(config: StackConfig, state: StackState) -> str:
    lines = [
        f"Tributum local stack '{config.project_id}' is up.",
        f"  gateway     {config.gateway_url}",
        f"  docs        {config.gateway_url}/docs",
        f"  dashboard   {config.gateway_url}/_dashboard",
        f"  openapi     {config.gateway_url}/openapi.json",
        f"  firestore   {config.firestore_address}   (FIRESTORE_EMULATOR_HOST)",
        f"  pubsub      {config.pubsub_address}   (PUBSUB_EMULATOR_HOST)",
        f"  mail        {mail_sink.mailbox_url()}   (every email sent; "
        + ("another's sink)" if state.shared_mail_sink else "this stack's sink)"),
    ]
    for record in state.processes:
        if record.role == "function":
            lines.append(f"  {record.name:<22} {record.kind:<5} http://{config.host}:{record.port}")
    lines += [
        f"  state file  {config.state_path}",
        f"  logs        {config.log_dir}",
        "Use the emulators from a shell:",
        f"  export FIRESTORE_EMULATOR_HOST={config.firestore_address} "
        f"PUBSUB_EMULATOR_HOST={config.pubsub_address} GOOGLE_CLOUD_PROJECT={config.project_id}",
    ]
    return "\n".join(lines)


# -- down ---------------------------------------------------------------------------------


def _shutdown_firestore(host: str, port: int) -> None:
    """Firestore's own shutdown endpoint lets it exit cleanly before its group is signalled."""
    request = urllib.request.Request(f"http://{host}:{port}/shutdown", method="POST")
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5):
        pass


def stop_stack(
    state: StackState,
    *,
    say: Say | None = None,
    before_emulators: Callable[[], None] | None = None,
) -> list[str]:
    """Stop every recorded group in order; return what is still alive or listening.

    ``before_emulators`` runs once nothing writes any more and the emulators still
    run; if it raises, the emulators are left running (and their data with them).
    """
    stopped: list[ProcessRecord] = []
    for role in STOP_ORDER:
        if role == "emulator" and before_emulators is not None:
            before_emulators()
        records = [r for r in state.processes if r.role == role]
        owned = []
        for record in records:
            if _owned(record):
                owned.append(record)
            elif group_alive(record.pgid) and say is not None:
                say(
                    f"process group {record.pgid} recorded for {record.name} now runs something "
                    "else; left alone"
                )
        for record in owned:
            if record.name == "firestore" and record.port is not None:
                _shutdown_firestore(state.host, record.port)
        stop_groups(r.pgid for r in owned)
        stopped += owned
    leftovers = [f"{r.name} (process group {r.pgid})" for r in state.processes if _owned(r)]
    deadline = time.monotonic() + 5.0
    listening = [r for r in stopped if r.port is not None and port_open(state.host, r.port)]
    while listening and time.monotonic() < deadline:
        time.sleep(0.2)
        listening = [r for r in listening if port_open(state.host, r.port or 0)]
    leftovers += [f"{r.name} (port {r.port} still answers)" for r in listening]
    return leftovers


def down(config: StackConfig, *, say: Say = print, export_to: Path | None = None) -> bool:
    """Stop the stack of ``config``; True when nothing of it is left running.

    ``export_to``: write the Firestore data there once the functions have stopped and
    before the emulators stop (``up --import`` loads it again).
    """
    state = load_state(config.state_path)
    if state is None:
        if export_to is not None:
            raise StackError(
                f"no local stack recorded for project {config.project_id}: nothing to export"
            )
        say(f"no local stack recorded for project {config.project_id} ({config.state_path})")
        return True
    export = None
    if export_to is not None:
        export = snapshots.export_step(state, snapshots.check_export_target(export_to), say)
    leftovers = stop_stack(state, say=say, before_emulators=export)
    if leftovers:
        say("still running after down: " + "; ".join(leftovers))
        return False
    remove_state(config.state_path)
    say(f"stack '{config.project_id}' is down")
    return True


# -- status, reset --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    role: str
    port: int | None
    pgid: int | None  # None: a shared mail sink, whose process is not the stack's
    running: bool
    answering: bool
    owned: bool = True

    @property
    def healthy(self) -> bool:
        return self.running and self.answering


def component_statuses(state: StackState) -> list[ComponentStatus]:
    statuses = []
    for record in state.processes:
        running = _owned(record)
        answering = False
        if running:
            if record.role == "emulator" and record.port is not None:
                answering = emu.is_answering(state.host, record.port)
            elif record.role == "gateway":
                url = f"http://{state.host}:{record.port}{GATEWAY_HEALTH_PATH}"
                answering = http_status(url) == 200
            elif record.role == "mail_sink":
                answering = mail_part.answers(record.port)
            elif record.role == "function" and record.port is not None:
                # A connection, no request: a status check must not write access lines
                # (or 401s) into the function's log. The process is ours (_owned), so an
                # accepting port is that function's server.
                answering = port_open(state.host, record.port)
            else:
                answering = True  # the scheduler listens on nothing: alive is healthy
        statuses.append(
            ComponentStatus(record.name, record.role, record.port, record.pgid, running, answering)
        )
    if state.shared_mail_sink and state.find(mail_part.NAME) is None:
        # Used, not owned: it counts as running while a mail sink answers there.
        shared = mail_part.answers()
        statuses.append(
            ComponentStatus(
                mail_part.NAME, "mail_sink", mail_part.PORT, None, shared, shared, owned=False
            )
        )
    return statuses


def reset(config: StackConfig) -> None:
    state = load_state(config.state_path)
    record = state.find("firestore") if state else None
    if state is None or record is None or record.port is None or not _owned(record):
        raise StackError(
            f"no running Firestore emulator recorded for project {config.project_id}; "
            "start the stack with 'python -m emulator up'"
        )
    for database in ("(default)", CREDENTIALS_DATABASE):
        emu.clear_firestore(f"{state.host}:{record.port}", config.project_id, database)

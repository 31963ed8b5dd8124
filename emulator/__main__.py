"""``python -m emulator up|down|status|reset|logs``: the one-command local stack."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from emulator import mail_sink, stack, webhook_sink
from emulator.emulators import EmulatorUnavailableError
from emulator.launch import FunctionSourceError
from emulator.pubsub_setup import PubSubError
from emulator.settings import StackConfig, StackConfigError, load_config
from emulator.state import load_state

COMMANDS = "{up,down,status,reset,logs,tick,seed,webhook-sink,mail-sink}"


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", help="project id (env TRIBUTUM_PROJECT_ID)")
    parser.add_argument("--gateway-port", type=int, help="env TRIBUTUM_GATEWAY_PORT")
    parser.add_argument("--firestore-port", type=int, help="env TRIBUTUM_FIRESTORE_PORT")
    parser.add_argument("--pubsub-port", type=int, help="env TRIBUTUM_PUBSUB_PORT")
    parser.add_argument(
        "--functions-base-port",
        type=int,
        help="function i of the manifest listens on base+i (env TRIBUTUM_FUNCTIONS_BASE_PORT)",
    )
    parser.add_argument("--manifest", type=Path, help="topology manifest (env TRIBUTUM_MANIFEST)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Run Tributum locally: the Firestore and Pub/Sub emulators, every "
        "function, and one gateway.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar=COMMANDS)

    up = commands.add_parser("up", help="start the stack in the background")
    _add_stack_options(up)
    up.add_argument(
        "--from-build",
        action="store_true",
        help="run build/<name>/ in its own virtualenv (made by infra/package.py --venvs)",
    )
    up.add_argument(
        "--foreground",
        action="store_true",
        help="stay attached; Ctrl-C stops the whole stack",
    )
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each part")
    up.add_argument(
        "--schedule-speedup",
        type=float,
        help="run the scheduler's clock N times faster (env TRIBUTUM_SCHEDULE_SPEEDUP)",
    )
    up.add_argument(
        "--import",
        dest="import_from",
        type=Path,
        metavar="DIR",
        help="load the Firestore data exported by 'down --export DIR' before functions start",
    )
    up.add_argument(
        "--watch",
        action="store_true",
        help="stay attached and restart each function whose code or shared modules change",
    )

    down = commands.add_parser("down", help="stop everything of the stack")
    _add_stack_options(down)
    down.add_argument(
        "--export",
        dest="export_to",
        type=Path,
        metavar="DIR",
        help="keep the Firestore data in DIR (load it again with 'up --import DIR')",
    )

    status = commands.add_parser("status", help="what runs where; non-zero if anything is down")
    _add_stack_options(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    reset = commands.add_parser("reset", help="delete every Firestore document")
    _add_stack_options(reset)

    logs = commands.add_parser("logs", help="show a function's log (all logs without a name)")
    _add_stack_options(logs)
    logs.add_argument("name", nargs="?", help="function, gateway, scheduler, firestore, pubsub")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true", help="keep showing new lines")
    logs.add_argument("--correlation-id", help="only the lines of one request and its events")
    logs.add_argument(
        "--json", action="store_true", help="the raw JSON lines (the default when piped)"
    )

    tick = commands.add_parser("tick", help="publish one scheduler tick to a topic now")
    _add_stack_options(tick)
    tick.add_argument("topic", help="a topic with a schedule in the manifest")

    seed = commands.add_parser(
        "seed", help="create a demo tenant through the API; prints export lines for a shell"
    )
    _add_stack_options(seed)

    sink = commands.add_parser(
        "webhook-sink", help="receive webhooks locally: show each delivery as it arrives"
    )
    sink.add_argument("--host", default=webhook_sink.SINK_HOST)
    sink.add_argument("--port", type=int, default=webhook_sink.DEFAULT_SINK_PORT)

    mail = commands.add_parser(
        "mail-sink",
        help="show the stack's emails as they arrive (follows the running sink's mailbox, "
        "or runs a sink when none runs)",
    )
    mail.add_argument("--host", default=mail_sink.SINK_HOST)
    mail.add_argument("--port", type=int, default=mail_sink.DEFAULT_SINK_PORT)

    # Processes of a running stack, started by `up`; not for direct use.
    gateway = commands.add_parser("_gateway")
    gateway.add_argument("--port", type=int, required=True)
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--manifest", type=Path, required=True)
    gateway.add_argument("--functions-base-port", type=int, required=True)

    sink_part = commands.add_parser("_mail_sink")
    sink_part.add_argument("--port", type=int, required=True)
    sink_part.add_argument("--host", default=mail_sink.SINK_HOST)

    scheduler = commands.add_parser("_scheduler")
    scheduler.add_argument("--project", required=True)
    scheduler.add_argument("--pubsub-address", required=True)
    scheduler.add_argument("--manifest", type=Path, required=True)
    scheduler.add_argument("--speedup", type=float, default=1.0)
    return parser


def _config(args: argparse.Namespace) -> StackConfig:
    return load_config(
        project_id=args.project,
        gateway_port=args.gateway_port,
        firestore_port=args.firestore_port,
        pubsub_port=args.pubsub_port,
        functions_base_port=args.functions_base_port,
        manifest_path=args.manifest,
        from_build=getattr(args, "from_build", False),
        schedule_speedup=getattr(args, "schedule_speedup", None),
    )


def _say(message: str) -> None:
    """Progress output; a closed stdout (``up | head``) must not abort a starting stack."""
    with contextlib.suppress(BrokenPipeError):
        print(message, flush=True)


def _up(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.watch and config.from_build:
        # Refused before anything starts: a packaged build/<name>/ is not what is edited.
        print(
            "error: --watch restarts functions from the source tree; drop --from-build",
            file=sys.stderr,
        )
        return 1
    state = stack.up(config, say=_say, timeout=args.timeout, import_from=args.import_from)
    _say(stack.describe(config, state))
    if not args.foreground and not args.watch:
        _say("Stop it with: python -m emulator down" + _flags_hint(config))
        return 0
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if args.watch:
        from emulator.watch import Watcher

        if args.foreground:
            _say("Watching in the foreground; Ctrl-C stops watching and the stack.")
        else:
            _say(
                "Ctrl-C stops watching; the stack keeps running "
                "(stop it with: python -m emulator down" + _flags_hint(config) + ")."
            )
        Watcher(config, _say, timeout=args.timeout).run(stop)
        if not args.foreground:
            return 0
    else:
        _say("Running in the foreground; Ctrl-C stops the stack.")
        while not stop.wait(1.0):
            pass
    return 0 if stack.down(config, say=_say) else 1


def _flags_hint(config: StackConfig) -> str:
    defaults = StackConfig()
    return "" if config.project_id == defaults.project_id else f" --project {config.project_id}"


def _status(args: argparse.Namespace) -> int:
    config = _config(args)
    state = load_state(config.state_path)
    if state is None:
        if args.json:
            print(json.dumps({"project_id": config.project_id, "running": False, "components": []}))
        else:
            print(f"no local stack recorded for project {config.project_id}")
        return 1
    statuses = stack.component_statuses(state)
    healthy = bool(statuses) and all(s.healthy for s in statuses)
    if args.json:
        document = {
            "project_id": state.project_id,
            "running": True,
            "healthy": healthy,
            "components": [
                {
                    "name": s.name,
                    "role": s.role,
                    "port": s.port,
                    "pgid": s.pgid,
                    "running": s.running,
                    "answering": s.answering,
                    "healthy": s.healthy,
                    "owned": s.owned,
                }
                for s in statuses
            ],
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"stack '{state.project_id}' (started {state.started_at})")
        print(f"  {'NAME':<24}{'ROLE':<11}{'PORT':<7}{'PGID':<9}STATE")
        for s in statuses:
            if s.healthy:
                condition = "healthy"
            elif s.running:
                condition = "running, not answering"
            else:
                condition = "down"
            if not s.owned:
                condition += " (not this stack's: down leaves it)"
            port = str(s.port) if s.port is not None else "-"
            pgid = str(s.pgid) if s.pgid is not None else "-"
            print(f"  {s.name:<24}{s.role:<11}{port:<7}{pgid:<9}{condition}")
        if state.processes:
            print(f"  gateway: http://{state.host}:{state.gateway_port}")
    return 0 if healthy else 1


def _gateway(args: argparse.Namespace) -> int:
    from emulator.gateway import Gateway, serve
    from emulator.routing import RouteTable
    from emulator.settings import function_ports
    from shared.topology import load_manifest

    manifest = load_manifest(args.manifest)
    table = RouteTable.from_manifest(manifest, function_ports(manifest, args.functions_base_port))
    from emulator.dashboard import local_dashboard

    gateway = Gateway(table, args.host, access_log=sys.stdout, dashboard=local_dashboard(manifest))
    serve(gateway, args.host, args.port)
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from emulator import scheduler
    from shared.topology import load_manifest

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    scheduler.serve(load_manifest(args.manifest), args.pubsub_address, args.project, args.speedup)
    return 0


def _logs(args: argparse.Namespace) -> int:
    from emulator import log_view

    paths = stack.log_files(_config(args), args.name)
    pretty = sys.stdout.isatty() and not args.json
    for source, line in stack.follow_lines(paths, args.lines, args.follow):
        if not log_view.keep(line, args.correlation_id):
            continue
        if pretty:
            print(log_view.render(source, line, colour=True), flush=True)
        else:
            print(line if len(paths) == 1 else f"[{source}] {line}", flush=True)
    return 0


def _seed(args: argparse.Namespace) -> int:
    from emulator.seed import SeedError, seed

    config = _config(args)
    try:
        tenant = seed(config.gateway_url, say=lambda line: print(f"# {line}", flush=True))
    except (SeedError, OSError) as exc:
        print(f"error: {exc} (is the stack up? python -m emulator up)", file=sys.stderr)
        return 1
    for line in tenant.exports():
        print(line)
    return 0


def _tick(args: argparse.Namespace) -> int:
    from emulator import scheduler
    from shared.topology import load_manifest

    config = _config(args)
    try:
        message_id = scheduler.fire(
            load_manifest(config.manifest_path),
            args.topic,
            config.pubsub_address,
            config.project_id,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"published a tick to {args.topic} (message {message_id})")
    return 0


def _webhook_sink(args: argparse.Namespace) -> int:
    sink = webhook_sink.WebhookSink(
        args.host, args.port, on_delivery=lambda d: _say(webhook_sink.describe(d))
    )
    _say(f"webhook sink on {sink.url('/')} (Ctrl-C stops it); control routes under /_sink")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        sink.serve_forever()
    finally:
        sink.stop()
    return 0


def _serve_mail_sink(host: str, port: int, say: Callable[[str], None]) -> None:
    sink = mail_sink.MailSink(host, port, on_mail=lambda m: say(mail_sink.describe(m)))
    say(f"mail sink on {sink.url()}; received emails at {sink.url(mail_sink.MAILBOX_PATH)}")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        sink.serve_forever()
    finally:
        sink.stop()


def _mail_sink(args: argparse.Namespace) -> int:
    """Show emails as they arrive: the running sink's (a stack's), else a sink of its own."""
    if mail_sink.answers_as_mail_sink(args.host, args.port):
        mailbox = mail_sink.Mailbox(mail_sink.mailbox_url(args.host, args.port))
        _say(
            f"a mail sink already runs on port {args.port} (a local stack's); following "
            f"{mailbox.url} (Ctrl-C stops following, the sink keeps running)"
        )
        shown = len(mailbox.messages())
        while True:
            time.sleep(1.0)
            received = mailbox.received()
            for mail in received[shown if len(received) >= shown else 0 :]:
                _say(mail_sink.describe(mail))
            shown = len(received)
    _say("no mail sink runs there; starting one (Ctrl-C stops it)")
    _serve_mail_sink(args.host, args.port, _say)
    return 0


def _mail_sink_part(args: argparse.Namespace) -> int:
    """The stack's sink, started by ``up``: each email goes to its log."""
    _serve_mail_sink(args.host, args.port, lambda line: print(line, flush=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "down":
            return 0 if stack.down(_config(args), export_to=args.export_to) else 1
        if args.command == "status":
            return _status(args)
        if args.command == "reset":
            config = _config(args)
            stack.reset(config)
            print(f"Firestore of stack '{config.project_id}' is empty")
            return 0
        if args.command == "logs":
            return _logs(args)
        if args.command == "_gateway":
            return _gateway(args)
        if args.command == "_scheduler":
            return _scheduler(args)
        if args.command == "webhook-sink":
            return _webhook_sink(args)
        if args.command == "mail-sink":
            return _mail_sink(args)
        if args.command == "_mail_sink":
            return _mail_sink_part(args)
        if args.command == "tick":
            return _tick(args)
        if args.command == "seed":
            return _seed(args)
    except KeyboardInterrupt:
        return 130
    except (
        EmulatorUnavailableError,
        StackConfigError,
        FunctionSourceError,
        PubSubError,
        stack.StackError,
        RuntimeError,
        ValueError,
        OSError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, EmulatorUnavailableError) else 1
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())

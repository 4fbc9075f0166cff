"""The ``backend`` command: serve the API, run a worker, manage users and the database.

Every setting in ``backend.settings.SPECS`` becomes a flag of ``serve``,
generated from that table with its environment variable and default in the
help, so ``backend serve --help`` is the configuration reference. ``migrate``
and ``user`` take the few settings they need (``--db``, ``--config``).
``worker`` replaces itself with ``taskiq worker backend.worker:broker
MODULES`` (settings passed on as environment variables, the shutdown timeout
as taskiq's flags), ``backup`` copies the database online, and ``prune``
deletes finished flows past an age (``backend.prune_command``).
Tokens are printed once, as the last line of output, so scripts can take
``| tail -n1``; they are never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import ipaddress
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from aiohttp import web

from backend.api.app import ExtraCtx, request_line_limit
from backend.api.context import SHUTDOWN, package_version
from backend.api.server import create_server_app
from backend.errors import ConfigError, FlowdeskError, MigrationError
from backend.logs import AccessLog, configure_logging
from backend.prune_command import add_prune_parser, run_prune
from backend.settings import SPECS, SPECS_BY_NAME, Settings, Spec, describe, load_settings
from backend.shutdown import EXIT_SHUTDOWN_OVERRUN, WATCHDOG_MARGIN_S, Watchdog
from backend.store.backup import backup_database
from backend.store.store import Store

log = logging.getLogger("backend")
T = TypeVar("T")


def _typed(spec: Spec) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        return spec.parse(raw)

    parse.__name__ = spec.kind  # argparse names the type in its error message
    return parse


def add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    group = parser.add_argument_group(
        "settings", "flags win over environment variables, which win over the config file"
    )
    rows = {row["name"]: row for row in describe(names)}
    for spec in SPECS:
        if names is not None and spec.name not in names:
            continue
        row = rows[spec.name]
        text = f"{spec.help} (env {spec.env}; default {row['default'] or 'none'})"
        text = text.replace("%", "%%")
        if spec.kind == "bool":
            group.add_argument(
                spec.flag, dest=spec.name, action=argparse.BooleanOptionalAction,
                default=None, help=text,
            )  # fmt: skip
        else:
            group.add_argument(
                spec.flag, dest=spec.name, type=_typed(spec), default=None,
                metavar=spec.kind.upper(), help=text,
            )  # fmt: skip
    group.add_argument(
        "--config", type=Path, default=None, metavar="PATH",
        help="TOML file with settings, top level or under [flowdesk] (env FLOWDESK_CONFIG)",
    )  # fmt: skip


# The settings a standalone worker reads (backend.worker builds its broker from them).
WORKER_SETTINGS = (
    "redis_url", "allowed_queues", "queues", "max_result_bytes", "max_json_depth",
    "heartbeat_interval", "reclaim_idle", "shutdown_timeout", "log_level",
)  # fmt: skip


def _env_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def worker_command(
    args: argparse.Namespace, settings: Settings
) -> tuple[list[str], dict[str, str]]:
    """The ``taskiq worker`` command line and environment for ``backend worker``.

    Flags given to ``backend worker`` become ``FLOWDESK_*`` variables (the
    broker in ``backend.worker`` reads settings from the environment); the
    shutdown timeout bounds both the wait for running tasks and the broker's
    shutdown, so a stop takes at most about twice ``shutdown_timeout``.
    """
    env = dict(os.environ)
    for name in WORKER_SETTINGS:
        if getattr(args, name, None) is not None:
            env[SPECS_BY_NAME[name].env] = _env_text(getattr(args, name))
    if args.config is not None:
        env["FLOWDESK_CONFIG"] = str(args.config)
    timeout = str(settings.shutdown_timeout)
    argv = [
        sys.executable, "-m", "taskiq", "worker", "backend.worker:broker", *args.modules,
        "--workers", str(args.workers), "--log-level", settings.log_level.upper(),
        "--wait-tasks-timeout", timeout, "--shutdown-timeout", timeout,
    ]  # fmt: skip
    return argv, env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backend",
        description="Flowdesk backend: REST API over SQLite, flows executed on taskiq + Redis.",
        epilog="Run 'backend serve --help' for every setting.",
    )
    parser.add_argument("--version", action="version", version=f"backend {package_version()}")
    parser.add_argument(
        "--log-format", choices=("kv", "json"), default="kv",
        help="log lines as key=value (default) or JSON",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API (binds 127.0.0.1 by default)")
    add_setting_flags(serve)

    migrate = commands.add_parser("migrate", help="create or upgrade the database, then exit")
    add_setting_flags(migrate, ["db", "log_level"])

    worker = commands.add_parser(
        "worker", help="run a taskiq worker for task MODULES (execs 'taskiq worker')"
    )
    worker.add_argument("modules", nargs="+", metavar="MODULE", help="task modules to import")
    worker.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    add_setting_flags(worker, WORKER_SETTINGS)

    backup = commands.add_parser(
        "backup", help="copy the database to PATH while the backend runs (SQLite backup API)"
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="file to write (mode 0600)")
    backup.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    add_setting_flags(backup, ["db", "log_level"])

    add_prune_parser(commands)
    add_setting_flags(commands.choices["prune"], ["db", "log_level", "retention_batch"])

    user = commands.add_parser("user", help="manage users and their API tokens")
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("create", "create a user and print its first token (last line)"),
        ("token", "issue another token for a user (printed as the last line)"),
        ("revoke", "revoke every token of a user"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", metavar="NAME")
        add_setting_flags(action, ["db", "log_level"])
    add_setting_flags(actions.add_parser("list", help="list users and their live tokens"),
                      ["db", "log_level"])  # fmt: skip
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in SPECS_BY_NAME if hasattr(args, name)}
    return load_settings(overrides, config_file=args.config)


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    store = await Store.open(settings.db, durability=settings.durability)
    try:
        return await work(store)
    finally:
        await store.close()


async def _user_command(args: argparse.Namespace, store: Store) -> None:
    if args.action == "create":
        user, token = await store.create_user(args.name)
        print(f"created user {user.name} (id {user.id})")
        print("token (shown once, store it now):")
        print(token)
    elif args.action == "token":
        token = await store.issue_token(args.name)
        print(f"new token for {args.name} (shown once, store it now):")
        print(token)
    elif args.action == "revoke":
        count = await store.revoke_tokens(args.name)
        print(f"revoked {count} token(s) of {args.name}")
    else:
        users = await store.list_users()
        print(f"{'NAME':<24} {'TOKENS':>6}  ID")
        for user, live in users:
            print(f"{user.name:<24} {live:>6}  {user.id}")


async def _migrate(store: Store) -> int:
    return await store.db.schema_version()


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_without_tls(settings: Settings) -> None:
    """The server speaks plain HTTP: off loopback, tokens need a TLS proxy in front."""
    if is_loopback(settings.host) or settings.behind_tls_proxy:
        return
    message = (
        f"serving plain HTTP on {settings.host}:{settings.port}, not a loopback address: "
        "bearer tokens and flow data cross the network unencrypted unless a TLS-terminating "
        "reverse proxy (nginx, Caddy, HAProxy) is in front; see docs/reliability.md "
        "(once one is, say so with --behind-tls-proxy to silence this)"
    )
    log.warning("no TLS", extra={"detail": message})
    print(f"backend: WARNING: {message}", file=sys.stderr, flush=True)


def lock_database(db: Path) -> IO[bytes]:
    """Hold an exclusive lock beside the database for the life of this process.

    Two servers on one database would each cache flows and apply the same
    worker events, overwriting each other. The lock dies with the process
    (even a SIGKILLed one), so a restart never waits for it.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(db.with_name(db.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"another backend is already serving {db}") from None
    return handle


def serve(settings: Settings, extra_ctx: Sequence[ExtraCtx] = ()) -> int:
    """Run the server until interrupted; returns the exit status.

    Shutdown (SIGTERM, SIGINT) takes at most ``shutdown_timeout`` plus a
    margin: every step shares one budget (``backend.shutdown``), and a
    watchdog thread, armed when shutdown begins, logs every task's stack and
    ends the process with ``EXIT_SHUTDOWN_OVERRUN`` if it is still running
    then. A step that had to give up also makes the exit status non-zero.
    """
    lock = lock_database(settings.db)
    warn_without_tls(settings)
    apps: list[web.Application] = []
    watchdogs: list[Watchdog] = []

    async def arm_watchdog(_app: web.Application) -> None:
        watchdog = Watchdog(settings.shutdown_timeout + WATCHDOG_MARGIN_S,
                            asyncio.get_running_loop())  # fmt: skip
        watchdog.arm()
        watchdogs.append(watchdog)

    async def make_app() -> web.Application:
        store = await Store.open(settings.db, durability=settings.durability)
        app = create_server_app(settings, store, extra_ctx=extra_ctx, close_store=True)
        app.on_shutdown.insert(0, arm_watchdog)
        apps.append(app)
        return app

    def announce(_banner: str) -> None:
        log.info("listening", extra={"url": f"http://{settings.host}:{settings.port}",
                                     "db": str(settings.db)})  # fmt: skip

    web.run_app(
        make_app(),
        host=settings.host,
        port=settings.port,
        access_log_class=AccessLog,
        shutdown_timeout=settings.shutdown_timeout,
        print=announce,
        max_line_size=request_line_limit(settings),
    )
    lock.close()
    # Armed until here on purpose: run_app's final cancel of leftover tasks waits
    # without a bound. After an overrun it stays armed, because a store left open
    # keeps aiosqlite's (non-daemon) threads, and so the interpreter, alive.
    if apps and apps[0][SHUTDOWN].overrun:
        log.error("shutdown left work running", extra={"exit_status": EXIT_SHUTDOWN_OVERRUN})
        return EXIT_SHUTDOWN_OVERRUN
    for watchdog in watchdogs:
        watchdog.disarm()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        configure_logging(settings.log_level, args.log_format)
        status = 0
        if args.command == "serve":
            status = serve(settings)
        elif args.command == "worker":
            argv, env = worker_command(args, settings)
            os.execvpe(argv[0], argv, env)  # noqa: S606 - replaces this process on purpose
        elif args.command == "backup":
            result = asyncio.run(backup_database(settings.db, args.path, overwrite=args.overwrite))
            print(
                f"backed up {settings.db} to {result.path} ({result.size_bytes} bytes, "
                f"schema version {result.schema_version})"
            )
        elif args.command == "prune":
            asyncio.run(_with_store(settings, lambda store: run_prune(args, settings, store)))
        elif args.command == "migrate":
            version = asyncio.run(_with_store(settings, _migrate))
            print(f"database {settings.db} is at schema version {version}")
        else:
            asyncio.run(_with_store(settings, lambda store: _user_command(args, store)))
    except (ConfigError, MigrationError) as exc:
        print(f"backend: error: {exc}", file=sys.stderr)
        return 2
    except FlowdeskError as exc:
        print(f"backend: error: {exc}", file=sys.stderr)
        return 1
    return status

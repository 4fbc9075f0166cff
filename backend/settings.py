"""Settings for the backend, its workers and the embedded desktop backend.

Every setting is declared once, in ``SPECS``, with its environment variable,
command-line flag, TOML key and default. The loader, the CLI's ``--help`` and
the configuration reference are all generated from that table, so they cannot
drift apart. Precedence, lowest first: defaults, the TOML file
(``FLOWDESK_CONFIG`` or ``--config``), environment variables, flags.

Why not ``pydantic-settings``: it was weighed (issue 10) and kept out. It
would read the environment and a TOML file for us, but the flags of
``backend serve``/``worker``/``prune``, their ``--help`` and
``docs/configuration.md`` would still need this table (its CLI source builds
its own parser and cannot share argparse subcommands), and its TOML source
does not report an unknown key with its file and name the way operators get
here. It would add a dependency and an adapter and remove about forty lines.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from backend.domain.models import FlowStatus
from backend.domain.search import RetentionRule
from backend.errors import ConfigError

APP_NAME = "flowdesk"
DEFAULT_QUEUES = ("jobQueue", "webhooks", "schedQueue", "flowQueue")


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "flowdesk.db"


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Spec:
    """One setting: where it can come from and how its text is parsed."""

    name: str
    help: str
    parse: Callable[[str], Any]
    kind: str  # "str", "int", "float", "bool", "list", "path": for docs and TOML checks

    @property
    def env(self) -> str:
        return "FLOWDESK_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def toml_key(self) -> str:
        return self.name


DURABILITY = ("full", "normal")


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings` or directly in tests."""

    host: str = "127.0.0.1"
    port: int = 8321
    db: Path = field(default_factory=default_db_path)
    durability: str = "full"
    redis_url: str = "redis://127.0.0.1:6379/0"
    allowed_queues: tuple[str, ...] = DEFAULT_QUEUES
    queues: tuple[str, ...] = ()
    in_memory_broker: bool = False
    tasks: tuple[str, ...] = ()
    max_body_bytes: int = 16 * 1024 * 1024
    max_tree_jobs: int = 50_000
    max_tree_depth: int = 256
    max_string_length: int = 1_000
    max_json_depth: int = 64
    max_result_bytes: int = 1024 * 1024
    heartbeat_interval: float = 2.0
    stall_timeout: float = 15.0
    reclaim_idle: float = 30.0
    dispatch_batch: int = 500
    event_batch: int = 1_000
    events_retention_days: float = 7.0
    events_retention_count: int = 1_000_000
    events_prune_interval: float = 60.0
    ws_batch_window: float = 0.05
    ws_batch_max: int = 500
    ws_max_lag: int = 20_000
    ws_heartbeat: float = 20.0
    ws_max_message_bytes: int = 4096
    ws_auth_check_interval: float = 5.0
    ws_buffer_events: int = 50_000
    ws_buffer_bytes: int = 64 * 1024 * 1024
    shutdown_timeout: float = 10.0
    log_level: str = "INFO"
    behind_tls_proxy: bool = False
    bulk_max_flows: int = 10_000
    bulk_chunk: int = 20
    retention: str = "auto"
    retention_completed_days: float = 7.0
    retention_completed_count: int = 0
    retention_failed_days: float = 30.0
    retention_failed_count: int = 0
    retention_interval: float = 300.0
    retention_batch: int = 25

    @property
    def retention_rules(self) -> tuple[RetentionRule, ...]:
        """What the pruner keeps (empty when retention is off): completed flows,
        and failed or cancelled ones, each by age and/or count (0 = no limit)."""
        if self.retention == "off":
            return ()
        rules = (
            _rule((FlowStatus.COMPLETED,), self.retention_completed_days,
                  self.retention_completed_count),
            _rule((FlowStatus.FAILED, FlowStatus.CANCELLED), self.retention_failed_days,
                  self.retention_failed_count),
        )  # fmt: skip
        return tuple(rule for rule in rules if rule.enabled)

    @property
    def worker_queues(self) -> tuple[str, ...]:
        """Queues a worker consumes: ``queues`` if set, else every allowed queue."""
        return self.queues or self.allowed_queues


def _rule(statuses: tuple[FlowStatus, ...], days: float, count: int) -> RetentionRule:
    return RetentionRule(
        statuses,
        max_age_ms=round(days * 86_400_000) if days > 0 else None,
        max_count=count if count > 0 else None,
    )


RETENTION = ("auto", "on", "off")

_HELP = {
    "host": "address the HTTP server binds to",
    "port": "TCP port of the HTTP server",
    "db": "path of the SQLite database file",
    "durability": (
        "full: every commit survives power loss (SQLite synchronous=FULL); normal: "
        "survives a crash of the process, may lose the last commits on power loss"
    ),
    "redis_url": "Redis URL for the task queues and the worker event stream",
    "allowed_queues": "comma-separated queue names that flows may use",
    "queues": "comma-separated queues a worker consumes (default: all allowed queues)",
    "in_memory_broker": "run without Redis on taskiq's in-memory broker (in-process worker only)",
    "tasks": "comma-separated task modules to run in an in-process worker",
    "max_body_bytes": "largest accepted request body in bytes (413 above)",
    "max_tree_jobs": "most jobs one flow may hold",
    "max_tree_depth": "deepest a flow tree may be (root is depth 1)",
    "max_string_length": "longest name, queue name or job id in characters",
    "max_json_depth": "deepest nesting of a job's data or opts",
    "max_result_bytes": "largest JSON return value of a task in bytes",
    "heartbeat_interval": "seconds between worker heartbeats",
    "stall_timeout": "seconds without a heartbeat after which a worker's active jobs are retried",
    "reclaim_idle": "seconds a silent worker may hold a task before another worker claims it",
    "dispatch_batch": "most jobs sent to Redis in one pipelined batch",
    "event_batch": "most worker events applied in one SQLite transaction",
    "events_retention_days": "days the event log keeps events for websocket replay",
    "events_retention_count": "most events the event log keeps",
    "events_prune_interval": "seconds between prunings of the event log",
    "ws_batch_window": "seconds a websocket waits to batch more events into one frame",
    "ws_batch_max": "most events in one websocket frame",
    "ws_max_lag": "events a websocket client may fall behind the log before it is told to resync",
    "ws_heartbeat": "seconds between websocket pings (a peer that misses a pong is closed)",
    "ws_max_message_bytes": "largest client websocket message (closed with 1009 above)",
    "ws_auth_check_interval": "seconds between re-checks of open websockets' tokens",
    "ws_buffer_events": "newest events kept in memory for websockets (older: read from SQLite)",
    "ws_buffer_bytes": "most payload bytes kept in memory for websocket delivery",
    "shutdown_timeout": "seconds a graceful shutdown may take",
    "log_level": "logging level (DEBUG, INFO, WARNING, ERROR)",
    "behind_tls_proxy": "a TLS-terminating proxy is in front: no warning when not on loopback",
    "bulk_max_flows": "most flows one POST /flows/bulk may act on (422 too_many_flows above)",
    "bulk_chunk": "flows a bulk action or the pruner changes per write transaction",
    "retention": (
        "delete finished flows past the retention_* limits: on, off, or auto "
        "(on for backend serve, off for the desktop's embedded backend)"
    ),
    "retention_completed_days": "days a completed flow is kept after it finished (0: no age limit)",
    "retention_completed_count": "most completed flows kept, newest finish first (0: no limit)",
    "retention_failed_days": (
        "days a failed or cancelled flow is kept after it finished (0: no age limit)"
    ),
    "retention_failed_count": "most failed and cancelled flows kept (0: no limit)",
    "retention_interval": "seconds between the pruner's passes",
    "retention_batch": "flows the pruner deletes per write transaction",
}

_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "str": (str, "str"),
    "int": (int, "int"),
    "float": (float, "float"),
    "bool": (_parse_bool, "bool"),
    "list": (_parse_list, "list"),
    "path": (lambda raw: Path(raw).expanduser(), "path"),
}


def _kind_of(f: dataclasses.Field[Any]) -> str:
    type_name = str(f.type)
    if type_name.startswith("tuple"):
        return "list"
    if type_name == "Path":
        return "path"
    return type_name


SPECS: tuple[Spec, ...] = tuple(
    Spec(f.name, _HELP[f.name], _PARSERS[_kind_of(f)][0], _kind_of(f))
    for f in dataclasses.fields(Settings)
)
SPECS_BY_NAME: Mapping[str, Spec] = {spec.name: spec for spec in SPECS}


def default_value(spec: Spec) -> Any:
    """The default of a setting, as the dataclass would fill it."""
    return getattr(Settings(), spec.name)


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    section = raw.get("flowdesk", raw)
    values: dict[str, Any] = {}
    for key, value in section.items():
        spec = SPECS_BY_NAME.get(key)
        if spec is None:
            raise ConfigError(f"unknown setting {key!r} in {path}")
        values[key] = _coerce(spec, value, source=str(path))
    return values


def _coerce(spec: Spec, value: Any, source: str) -> Any:
    """Turn a TOML value or a string into the setting's type."""
    try:
        if isinstance(value, str):
            return spec.parse(value)
        if spec.kind == "list" and isinstance(value, list):
            return tuple(str(item) for item in value)
        if spec.kind == "bool" and isinstance(value, bool):
            return value
        if spec.kind in {"int", "float"} and isinstance(value, int | float):
            if spec.kind == "int" and not float(value).is_integer():
                raise ValueError("not an integer")
            return int(value) if spec.kind == "int" else float(value)
    except ValueError as exc:
        raise ConfigError(f"{spec.name} from {source}: {exc}") from exc
    raise ConfigError(f"{spec.name} from {source}: expected {spec.kind}, got {value!r}")


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve settings from defaults, a TOML file, the environment and overrides.

    ``overrides`` are already-typed values (from flags); ``None`` values are
    ignored so that an unset flag does not hide the environment.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config = config_file or (Path(env["FLOWDESK_CONFIG"]) if env.get("FLOWDESK_CONFIG") else None)
    if config is not None:
        values.update(_from_toml(config))
    for spec in SPECS:
        if spec.env in env:
            values[spec.name] = _coerce(spec, env[spec.env], source=spec.env)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if not settings.allowed_queues:
        raise ConfigError("allowed_queues must name at least one queue")
    unknown = set(settings.queues) - set(settings.allowed_queues)
    if unknown:
        raise ConfigError(f"queues not in allowed_queues: {', '.join(sorted(unknown))}")
    if not 0 < settings.port < 65536:
        raise ConfigError(f"port out of range: {settings.port}")
    if settings.retention not in RETENTION:
        raise ConfigError(
            f"retention must be one of {', '.join(RETENTION)}, not {settings.retention!r}"
        )
    if settings.bulk_chunk < 1 or settings.retention_batch < 1:
        raise ConfigError("bulk_chunk and retention_batch must be at least 1")
    if settings.durability not in DURABILITY:
        raise ConfigError(
            f"durability must be one of {', '.join(DURABILITY)}, not {settings.durability!r}"
        )


def describe(settings_names: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Rows of the configuration reference (used by docs and ``--help``)."""
    rows = []
    for spec in SPECS:
        if settings_names is not None and spec.name not in settings_names:
            continue
        default = default_value(spec)
        if isinstance(default, tuple):
            default = ",".join(default)
        if spec.name == "db":
            default = "<user data dir>/flowdesk.db"
        rows.append(
            {
                "name": spec.name,
                "flag": spec.flag,
                "env": spec.env,
                "toml": spec.toml_key,
                "default": str(default),
                "help": spec.help,
            }
        )
    return rows

"""Settings, declared once: the CLI, the docs and the app all read this table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS = (
    Setting("host", "127.0.0.1", "address to listen on"),
    Setting("port", "1026", "port to listen on (1026 is the NGSI-LD custom)"),
    Setting("db", "./boulevard.db", "SQLite file path (PostgreSQL URL support comes with the postgres store)"),
    Setting("sync", "FULL", "SQLite synchronous mode: FULL (durable on power loss) or NORMAL"),
    Setting("public_url", "", "base URL clients reach the broker at (for hosted @context URLs)"),
    Setting("history_days", "0", "days of attribute history to keep (0: keep it all); older instances are pruned"),
    Setting("history_page", "10000",
            "instances per attribute a temporal answer holds; longer histories answer 206 with a Content-Range"),
)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 1026
    db: str = "./boulevard.db"
    sync: str = "FULL"
    public_url: str = ""
    history_days: int = 0
    history_page: int = 10_000

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Build from a plain dict (tests) or the environment (BOULEVARD_*)."""
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            raw = values.get(f.name)
            if raw is None:
                continue
            kwargs[f.name] = int(raw) if f.type in ("int", int) else raw
        return cls(**kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        prefix = "BOULEVARD_"
        return cls.from_mapping({k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)})

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

"""What every HTTP handler reaches: the broker core and the @context cache."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from boulevard.broker.operations import Broker
from boulevard.config import Settings
from boulevard.ngsild.context import ContextCache


@dataclass
class Services:
    broker: Broker
    contexts: ContextCache
    settings: Settings
    started_at: float


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc

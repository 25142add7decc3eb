"""Fixtures of the whole suite (helpers live in ``support``)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import (
    OTHER_CTX_DOC,
    OTHER_CTX_URL,
    USER_CTX_DOC,
    USER_CTX_URL,
    Api,
    FakeFetcher,
    close_api,
    make_app,
    open_api,
)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest-asyncio, when installed but not configured, warns at start-up that
    # asyncio_default_fixture_loop_scope is unset; with filterwarnings=error that
    # aborts the session. The suite does not use it (tests are synchronous and run
    # their own event loop), so that one warning is silenced here.
    warnings.filterwarnings(
        "ignore", message=".*asyncio_default_fixture_loop_scope.*", category=pytest.PytestDeprecationWarning
    )


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher({USER_CTX_URL: USER_CTX_DOC, OTHER_CTX_URL: OTHER_CTX_DOC})


@pytest.fixture
def api(tmp_path: Path, fetcher: FakeFetcher) -> Iterator[Api]:
    app, settings = make_app(tmp_path, fetcher)
    with asyncio.Runner() as runner:
        client_api, lifespan = open_api(runner, app, fetcher, settings)
        try:
            yield client_api
        finally:
            close_api(client_api, lifespan)

"""The `boulevard` command line."""

from __future__ import annotations

import gc
import sys

import click

from boulevard import __version__
from boulevard.config import SETTINGS, Settings

_HELP = {s.name: s.help for s in SETTINGS}
_DEFAULT = {s.name: s.default for s in SETTINGS}


@click.group()
@click.version_option(__version__, prog_name="boulevard")
def main() -> None:
    """Boulevard: an NGSI-LD broker for the connected boulevard."""


@main.command()
@click.option("--host", default=_DEFAULT["host"], show_default=True, help=_HELP["host"])
@click.option("--port", default=int(_DEFAULT["port"]), show_default=True, type=int, help=_HELP["port"])
@click.option("--db", default=_DEFAULT["db"], show_default=True, help=_HELP["db"])
@click.option("--sync", default=_DEFAULT["sync"], show_default=True,
              type=click.Choice(["FULL", "NORMAL"], case_sensitive=False), help=_HELP["sync"])
@click.option("--public-url", default="", help=_HELP["public_url"])
@click.option("--history-days", default=int(_DEFAULT["history_days"]), show_default=True,
              type=click.IntRange(min=0), help=_HELP["history_days"])
@click.option("--history-page", default=int(_DEFAULT["history_page"]), show_default=True,
              type=click.IntRange(min=1), help=_HELP["history_page"])
@click.option("--example-data/--no-example-data", default=False, help="load the small example data set first")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(host: str, port: int, db: str, sync: str, public_url: str, history_days: int, history_page: int,
          example_data: bool, log_level: str) -> None:
    """Serve the NGSI-LD API at http://HOST:PORT/ngsi-ld/v1."""
    import uvicorn

    from boulevard.api.app import create_app

    if db.startswith(("postgres://", "postgresql://")):
        click.echo("error: the PostgreSQL store is not available yet; use a SQLite file path", err=True)
        sys.exit(2)
    settings = Settings(host=host, port=port, db=db, sync=sync.upper(), public_url=public_url,
                        history_days=history_days, history_page=history_page)
    if example_data:
        from boulevard.example import load_example

        count = load_example(settings)
        click.echo(f"loaded {count} example entities into {db}")
    click.echo(f"Boulevard NGSI-LD broker on http://{host}:{port}/ngsi-ld/v1 (store: {db})")
    # Requests allocate many short-lived dicts and make almost no cycles: collect the
    # young generation less often, and never rescan what start-up loaded.
    gc.set_threshold(20_000, 20, 20)
    gc.freeze()
    uvicorn.run(
        create_app(settings), host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
        proxy_headers=False, server_header=False,
    )


if __name__ == "__main__":
    main()

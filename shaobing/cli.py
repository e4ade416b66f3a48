"""The `shaobing` command: demo, edge, central, sim and decode. Each subcommand imports its part only when run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from shaobing.errors import ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="shaobing (哨兵): edge gateway and alarm dispatcher.",
)
sim_app = typer.Typer(no_args_is_help=True, help="Simulated devices speaking the real wire protocols.")
app.add_typer(sim_app, name="sim")


def _fail(message: str) -> None:
    typer.echo(f"shaobing: {message}", err=True)
    raise typer.Exit(code=1)


@app.command()
def decode(
    protocol: Annotated[str, typer.Argument(help="contact-id, dc09, ...")],
    frames: Annotated[
        list[str] | None, typer.Argument(help="frames to decode; none: read one a line from stdin")
    ] = None,
) -> None:
    """Decode captured frames: one JSON object a line; a refused frame prints {"error": ...} and exits 2."""
    from shaobing.decode import run_decode

    raise typer.Exit(code=run_decode(protocol, frames or [], sys.stdin, sys.stdout))


@app.command()
def edge(config: Annotated[Path, typer.Option("--config", "-c", help="the site's TOML file")]) -> None:
    """Run an edge agent: drivers, durable outbox, MQTT uplink."""
    from edge.agent import AgentFailed, run_edge

    try:
        asyncio.run(run_edge(config))
    except (ConfigError, AgentFailed) as error:
        _fail(str(error))
    except KeyboardInterrupt:
        pass


@app.command()
def central(
    config: Annotated[Path, typer.Option("--config", "-c", help="central's TOML file")],
    broker: Annotated[str | None, typer.Option(help="MQTT broker URL, e.g. mqtt://127.0.0.1:1883")] = None,
    db: Annotated[str | None, typer.Option(help="database URL: sqlite:///FILE or postgresql://...")] = None,
    http: Annotated[str | None, typer.Option(help="HOST:PORT of the HTTP API")] = None,
    api_token: Annotated[str | None, typer.Option(help="an admin bearer token for the API")] = None,
) -> None:
    """Run the central dispatcher: ingest, rules, dispatches, webhooks, HTTP API."""
    from central.config import load_central_config
    from central.service import run_central

    try:
        settings = load_central_config(config, broker=broker, db=db, http=http, api_token=api_token)
        asyncio.run(run_central(settings))
    except ConfigError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        pass


@sim_app.command("panel")
def sim_panel(
    protocol: Annotated[str, typer.Option(help="contact-id (serial) or dc09 (TCP)")],
    port: Annotated[str | None, typer.Option(help="contact-id: the serial device, e.g. /dev/pts/3")] = None,
    connect: Annotated[str | None, typer.Option(help="dc09: the receiver's HOST:PORT")] = None,
    account: Annotated[str, typer.Option(help="the panel's account number")] = "1234",
    key: Annotated[str | None, typer.Option(help="dc09: AES key in hex for encrypted messages")] = None,
    event: Annotated[list[str] | None, typer.Option(help="events to send, e.g. 130:3 (code:zone) or BA:3")] = None,
    poll: Annotated[float, typer.Option(help="dc09: seconds between NULL polls (0: none)")] = 0.0,
) -> None:
    """Run a simulated alarm panel that retries each event until the receiver acknowledges it."""
    from firmware_sim.panel_cli import run_panel_cli

    try:
        status = asyncio.run(
            run_panel_cli(
                protocol=protocol, port=port, connect=connect, account=account, key=key, events=event or [], poll=poll
            )
        )
    except ValueError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        status = 0
    raise typer.Exit(code=status)


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option("--for", help="run the scenario this many seconds, then exit")
    ] = None,
    http: Annotated[str, typer.Option(help="HOST:PORT for central's API")] = "127.0.0.1:8640",
) -> None:
    """The whole chain on one machine: broker, central, two shops, simulated panels and a scenario."""
    from shaobing.demo.run import run_demo

    try:
        raise typer.Exit(code=asyncio.run(run_demo(duration=duration, http=http)))
    except KeyboardInterrupt:
        pass


def main() -> None:
    app()

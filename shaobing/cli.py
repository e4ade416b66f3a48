"""The `shaobing` command: demo, edge, central (and central hash-password), sim, decode and access-key. Each subcommand
imports its part only when run."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

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
access_key_app = typer.Typer(no_args_is_help=True, help="The Ed25519 key pair that signs sites' allow-lists.")
app.add_typer(access_key_app, name="access-key")
central_app = typer.Typer(help="The central dispatcher, and the tools its configuration needs.")
app.add_typer(central_app, name="central")
# A console user's password: long enough to resist guessing through the log-in brake, short enough for the log-in form.
MIN_PASSWORD, MAX_PASSWORD = 8, 256


def _fail(message: str) -> None:
    typer.echo(f"shaobing: {message}", err=True)
    raise typer.Exit(code=1)


def _run_simulator(run: Coroutine[Any, Any, int]) -> None:
    """Run a simulator to its end and exit with its status: a bad option is a message, Ctrl-C a normal end."""
    try:
        status = asyncio.run(run)
    except ValueError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        status = 0
    raise typer.Exit(code=status)


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


@central_app.callback(invoke_without_command=True)
def central(
    context: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="central's TOML file")] = None,
    broker: Annotated[str | None, typer.Option(help="MQTT broker URL, e.g. mqtt://127.0.0.1:1883")] = None,
    db: Annotated[str | None, typer.Option(help="database URL: sqlite:///FILE or postgresql://...")] = None,
    http: Annotated[str | None, typer.Option(help="HOST:PORT of the HTTP API")] = None,
    api_token: Annotated[str | None, typer.Option(help="an admin bearer token for the API")] = None,
) -> None:
    """Run the central dispatcher: ingest, rules, dispatches, webhooks, HTTP API (and the console's pages)."""
    if context.invoked_subcommand is not None:
        return
    if config is None:
        _fail("central needs --config FILE (or a subcommand: hash-password)")
        return
    from central.config import load_central_config
    from central.service import run_central

    try:
        settings = load_central_config(config, broker=broker, db=db, http=http, api_token=api_token)
        asyncio.run(run_central(settings))
    except ConfigError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        pass


def _new_password() -> str:
    """The password to hash: typed twice without echo at a terminal; one line of stdin otherwise (for scripts)."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            _fail("the two passwords differ")
        return password
    try:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        password.encode("utf-8")  # undecodable bytes arrive as lone surrogates: no log-in form could send them
    except (UnicodeDecodeError, UnicodeEncodeError):
        _fail("the password is not UTF-8 text")
        return ""
    return password


@central_app.command("hash-password")
def central_hash_password() -> None:
    """Print the scrypt hash of a console user's password, for the user's password_hash in central's console
    section: typed twice without echo, or one line of stdin when stdin is not a terminal."""
    from central.api.owner_auth import OwnersSettings, hash_password

    password = _new_password()
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        _fail(f"a console password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    costs = OwnersSettings()  # central's own scrypt costs: a log-in checks it as fast as an owner's
    typer.echo(hash_password(password, n=costs.scrypt_n, r=costs.scrypt_r, p=costs.scrypt_p))


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

    _run_simulator(run_panel_cli(protocol=protocol, port=port, connect=connect, account=account, key=key,
                                 events=event or [], poll=poll))


@sim_app.command("tracker")
def sim_tracker(
    server: Annotated[str, typer.Option(help="the GT06 gateway's HOST:PORT")],
    count: Annotated[int, typer.Option(min=1, help="how many trackers")] = 1,
    interval: Annotated[float, typer.Option(help="seconds between position reports")] = 10.0,
    imei_base: Annotated[str, typer.Option(help="the first IMEI (14 digits, or 15: the check digit is redone)")] = (
        "86471700366440"),
    scenario: Annotated[str, typer.Option(help="park, ride, mixed, steal, offline or nofix")] = "mixed",
    duration: Annotated[float | None, typer.Option("--for", help="run this many seconds, then exit")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the scenario mix, parking spots and routes")] = None,
) -> None:
    """Run simulated GT06 e-bike trackers against a gateway; a line per notable event, a summary at the end."""
    from firmware_sim.tracker.cli import run_tracker_cli

    _run_simulator(run_tracker_cli(server=server, count=count, interval=interval, imei_base=imei_base,
                                   scenario=scenario, duration=duration, seed=seed))


@sim_app.command("idreader")
def sim_idreader(
    port: Annotated[str | None, typer.Option(help="a serial device to answer on, e.g. one end of a null-modem")] = None,
    pty: Annotated[str | None, typer.Option(help="make a pseudo-terminal and link its port at this path")] = None,
    card: Annotated[
        list[str] | None, typer.Option(help="cards in order, KIND:NAME[:GENDER[:BIRTH]], e.g. resident:王小明")
    ] = None,
    hold: Annotated[float, typer.Option(help="seconds each card lies on the reader")] = 3.0,
    gap: Annotated[float, typer.Option(help="seconds between cards")] = 2.0,
    repeat: Annotated[bool, typer.Option(help="present the cards over and over")] = False,
    fault: Annotated[list[str] | None, typer.Option(
        help="misbehave on the next answers: bad_checksum, stop_mid_frame, garbage, silent or late")] = None,
    duration: Annotated[float | None, typer.Option("--for", help="run this many seconds, then exit")] = None,
) -> None:
    """Run a simulated resident ID card reader (SAM serial protocol) presenting a sequence of cards."""
    from firmware_sim.idreader.cli import run_idreader_cli

    if port is not None and pty is not None:
        _fail("give --port or --pty, not both")
    _run_simulator(run_idreader_cli(port=port, pty=pty, card_specs=card or [], hold=hold, gap=gap,
                                    repeat=repeat, faults=fault or [], duration=duration))


@sim_app.command("card")
def sim_card(
    uid: Annotated[str, typer.Option(help="the card's UID in hex, e.g. 04A1B2C3")],
    port: Annotated[int, typer.Option(help="vpcd's port (pcscd's virtual reader)")] = 35963,
    host: Annotated[str, typer.Option(help="the host pcscd runs on")] = "127.0.0.1",
    atr: Annotated[str | None, typer.Option(help="the ATR in hex (default: a MIFARE Classic 1K's)")] = None,
    status: Annotated[str | None, typer.Option(help="answer GET UID with this status word instead, e.g. 6A81")] = None,
    silent: Annotated[bool, typer.Option(help="never answer an APDU (the ATR still comes)")] = False,
    hold: Annotated[float, typer.Option(help="seconds the card lies on the reader")] = 2.0,
    gap: Annotated[float, typer.Option(help="seconds between presentations")] = 2.0,
    count: Annotated[int, typer.Option(min=1, help="how many times to present the card")] = 1,
) -> None:
    """Put a virtual contactless card on pcscd's virtual reader (vpcd), as a miner presents a residence card."""
    from firmware_sim.vcard.cli import run_card_cli

    _run_simulator(run_card_cli(uid=uid, host=host, port=port, atr=atr, status=status, silent=silent,
                                hold=hold, gap=gap, count=count))


@sim_app.command("door")
def sim_door(
    port: Annotated[str | None, typer.Option(help="the serial device; none: a new pseudo-terminal, its path printed")]
    = None,
    address: Annotated[int, typer.Option(min=0, max=126, help="the reader's OSDP address")] = 0,
    scbk: Annotated[str | None, typer.Option(help="secure channel key, 16 bytes in hex; none: no secure channel")]
    = None,
    action: Annotated[list[str] | None, typer.Option(help="card:W26:90:324, card:04A1B2C3, open, close, exit, wait:2")]
    = None,
    interval: Annotated[float, typer.Option(help="seconds between actions")] = 1.0,
    duration: Annotated[float | None, typer.Option("--for", help="run this many seconds, then exit")] = None,
) -> None:
    """Run a simulated OSDP door reader: presents cards, reports the door contact and exit button, prints the LED,
    buzzer and lock commands it is sent."""
    from firmware_sim.door.cli import run_door_cli

    _run_simulator(run_door_cli(port=port, address=address, scbk=scbk, actions=action or [],
                                interval=interval, duration=duration))


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


@access_key_app.command("new")
def access_key_new() -> None:
    """Print a new key pair: the private key for central's configuration, the public key for every site's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shaobing.access_list import private_key_text, public_key_text

    key = Ed25519PrivateKey.generate()
    typer.echo(f'private_key = "{private_key_text(key)}"   # central only: keep it secret')
    typer.echo(f'public_key = "{public_key_text(key.public_key())}"   # each site\'s [access] public_key')


def main() -> None:
    app()

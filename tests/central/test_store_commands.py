from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store import commands

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


async def test_a_result_completes_the_command_issued_to_that_site(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await commands.record_command(
            connection, cmd_id="c-1", site="shop-a", name="arm", args={"partition": 1}, issued_by="op", issued_at=NOW
        )
    result = commands.parse_result(b'{"cmd_id": "c-1", "ok": true, "detail": "armed"}')
    async with engine.begin() as connection:
        assert not await commands.record_result(connection, site="shop-b", result=result, now=NOW)  # not its command
        assert await commands.record_result(connection, site="shop-a", result=result, now=NOW)
    async with engine.connect() as connection:
        command = await commands.get_command(connection, "c-1")
    assert command is not None
    assert (command.ok, command.detail, command.result_at, command.args) == (True, "armed", NOW, {"partition": 1})


async def test_a_result_for_an_unknown_command_is_not_recorded(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        result = commands.CommandResult("nope", False, None)
        assert not await commands.record_result(connection, site="shop-a", result=result, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"null",
        b'{"ok": true}',
        b'{"cmd_id": "", "ok": true}',
        b'{"cmd_id": "c", "ok": 1}',
        b'{"cmd_id": "c", "ok": true, "detail": 5}',
        b'{"cmd_id": "' + b"x" * 65 + b'", "ok": true}',
    ],
)
def test_malformed_results_are_refused(payload: bytes) -> None:
    with pytest.raises(commands.CommandResultError):
        commands.parse_result(payload)

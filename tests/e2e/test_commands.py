"""Commands round trip: central's API -> broker -> the edge agent, which carries them out and answers on cmd/result;
the result and the site's new arming state come back to central."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shaobing.broker import MosquittoBroker
from tests.conftest import MakeBroker
from tests.e2e.conftest import EdgeProcess, RunningCentral, eventually, running_central, start_edge, write_edge_config

SITE = "shop-a"


async def _command(central: RunningCentral, name: str, args: dict[str, Any], watch: list[EdgeProcess]
                   ) -> dict[str, Any]:
    response = await central.api.post(f"/api/sites/{SITE}/commands", json={"name": name, "args": args})
    assert response.status_code == 202, response.text
    issued = response.json()
    assert issued["ok"] is None  # recorded and sent, not answered yet

    async def answered() -> dict[str, Any] | None:
        found = await central.api.get(f"/api/commands/{issued['cmd_id']}")
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body if body["ok"] is not None else None

    return await eventually(f"the edge's answer to {name}", answered, watch=watch)


async def test_arm_and_disarm_from_central_reach_the_edge_and_come_back(
    make_broker: MakeBroker, sqlite_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    broker: MosquittoBroker = make_broker()
    config = write_edge_config(tmp_path / f"{SITE}.toml", site=SITE, broker=broker, outbox=tmp_path / "outbox.db",
                               drivers=[])
    async with running_central(broker, sqlite_url) as central:
        edge = start_edge(edges, config)

        async def online() -> bool:
            site = await central.site(SITE)
            return site is not None and site["online"] is True

        await eventually("the site online at central", online, watch=[edge])

        armed = await _command(central, "arm", {"partition": 1}, [edge])
        assert (armed["name"], armed["args"]["partition"], armed["ok"], armed["site"]) == ("arm", 1, True, SITE)

        async def arming_is(state: str) -> dict[str, Any] | None:
            site = await central.site(SITE)
            return site if site is not None and site["arming"].get("1", {}).get("state") == state else None

        site = await eventually("the site armed at central", lambda: arming_is("armed"), watch=[edge])
        assert site["armed"] is True

        disarmed = await _command(central, "disarm", {"partition": 1}, [edge])
        assert (disarmed["name"], disarmed["ok"]) == ("disarm", True)
        site = await eventually("the site disarmed at central", lambda: arming_is("disarmed"), watch=[edge])
        assert site["armed"] is False
        stored = await central.readings(SITE)

    # Each command came back as the site's own arming reading, in order, numbered by the edge.
    assert [(r["seq"], r["kind"], r["data"]["state"]) for r in stored] == [(1, "arming", "armed"),
                                                                             (2, "arming", "disarmed")]

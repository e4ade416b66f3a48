"""The example configurations in configs/ load with the real models, drivers included, and typos are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.config import load_central_config
from drivers.base import create_driver
from edge.config import load_edge_config
from shaobing.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_the_shop_example_loads_with_its_drivers() -> None:
    config = load_edge_config(CONFIGS / "shop.toml")
    assert config.site.id == "shop-0001"
    assert config.outbox.path == CONFIGS / "var" / "shop-0001.outbox.db"
    drivers = [create_driver(raw, source=f"shop.toml: drivers[{i}]") for i, raw in enumerate(config.drivers)]
    assert [driver.name for driver in drivers] == ["panel", "dialler"]


def test_the_tracker_gateway_example_loads_with_its_drivers() -> None:
    config = load_edge_config(CONFIGS / "tracker-gateway.toml")
    assert config.site.id == "trackers-0001"
    drivers = [create_driver(raw, source=f"tracker-gateway.toml: drivers[{i}]") for i, raw in enumerate(config.drivers)]
    assert [driver.name for driver in drivers] == ["gt06", "nmea"]


def test_the_central_example_loads_and_flags_override_it() -> None:
    config = load_central_config(CONFIGS / "central.toml", db="postgresql://u@h/db", http="0.0.0.0:9999",
                                 api_token="a-token-of-sixteen-chars")
    assert config.database.url == "postgresql://u@h/db"
    assert config.http.listen == "0.0.0.0:9999"
    assert config.rules.escalate_after == 120.0
    assert config.owners.live_link_ttl_s == 86400
    assert config.trackers.theft_fixes == 2
    assert ("admin", "admin") in {(t.name, t.role) for t in config.api.tokens}


def test_an_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "central.toml"
    broken.write_text((CONFIGS / "central.toml").read_text().replace("escalate_after", "escalate_aftr"))
    with pytest.raises(ConfigError, match=r"central\.toml: rules\.escalate_aftr: unknown key"):
        load_central_config(broken)


def test_a_rule_naming_a_recipient_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "central.toml"
    broken.write_text((CONFIGS / "central.toml").read_text().replace('security = ["guards"]', 'security = ["gards"]'))
    with pytest.raises(ConfigError, match="gards"):
        load_central_config(broken)


def test_a_driver_typo_is_named(tmp_path: Path) -> None:
    config = load_edge_config(CONFIGS / "shop.toml")
    raw = dict(config.drivers[0], baudrat=9600)
    with pytest.raises(ConfigError, match="baudrat"):
        create_driver(raw, source="shop.toml: drivers[0]")


def test_the_rental_building_example_loads_with_its_drivers() -> None:
    config = load_edge_config(CONFIGS / "rental-building.toml")
    assert config.site.id == "rental-0001"
    assert config.access.public_key is not None
    assert config.access_path == CONFIGS / "var" / "rental-0001.access.db"
    drivers = [create_driver(raw, source=f"rental-building.toml: drivers[{i}]")
               for i, raw in enumerate(config.drivers)]
    assert [driver.name for driver in drivers] == ["idcard", "gate-reader", "bike-store-reader"]


def test_the_mine_example_loads_with_its_drivers() -> None:
    config = load_edge_config(CONFIGS / "mine.toml")
    assert config.site.id == "mine-0001"
    assert config.access.public_key is not None
    drivers = [create_driver(raw, source=f"mine.toml: drivers[{i}]") for i, raw in enumerate(config.drivers)]
    assert [driver.name for driver in drivers] == ["pithead-in-reader", "pithead-out-reader", "magazine-reader",
                                                   "idcard"]

"""The `[access]` section: the public key checked when the file is read, the store's file beside the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.config import load_edge_config
from shaobing.access_list import public_key_text
from shaobing.errors import ConfigError

BASE = '[site]\nid = "shop-a"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n[outbox]\npath = "var/shop-a.outbox.db"\n'


def test_the_store_lies_beside_the_outbox_unless_a_path_is_given(tmp_path: Path) -> None:
    key = public_key_text(Ed25519PrivateKey.generate().public_key())
    config_file = tmp_path / "site.toml"
    config_file.write_text(BASE + f'[access]\npublic_key = "{key}"\n')
    config = load_edge_config(config_file)
    assert config.access_path == tmp_path / "var" / "shop-a.access.db"
    assert config.access.public_key == key
    assert (config.access.max_entries, config.access.max_bytes) == (1_000_000, 99_000_000)
    config_file.write_text(BASE + '[access]\npath = "lists/site.db"\nmax_entries = 5000\n')
    config = load_edge_config(config_file)
    assert config.access_path == tmp_path / "lists" / "site.db"
    assert config.access.public_key is None
    assert config.access.max_entries == 5000


@pytest.mark.parametrize(("table", "message"), [
    ('public_key = "not a key"', "access.public_key: Value error, not a base64 Ed25519 public key"),
    ('public_key = "AAAA"', "access.public_key: Value error, not a base64 Ed25519 public key"),
    ("max_entries = -1", "access.max_entries: Input should be greater than or equal to 0"),
    ("max_bytes = 10", "access.max_bytes: Input should be greater than or equal to 4096"),
    ('private_key = "x"', "access.private_key: unknown key"),
])
def test_a_bad_access_section_is_an_error_naming_file_and_key(tmp_path: Path, table: str, message: str) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_text(BASE + f"[access]\n{table}\n")
    with pytest.raises(ConfigError, match=f"^{config_file}: ") as caught:
        load_edge_config(config_file)
    assert message in str(caught.value)

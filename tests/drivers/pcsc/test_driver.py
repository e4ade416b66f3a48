"""The PC/SC driver against a real pcscd, with virtual cards put on and taken off vpcd's reader."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest
from firmware_sim.vcard.card import VirtualCard, card_on_reader

from drivers.base import AccessDecision
from drivers.pcsc.readings import UNREADABLE
from shaobing.envelope import Kind
from tests.drivers.pcsc.kit import DOOR, DictAllowList, Holder, Running, card, eventually, running_driver
from tests.drivers.pcsc.pcscd import READER, Pcscd

MINER = "04A1B2C3"
SURVEYOR = "04112233445566"  # a 7-byte UID
VISITOR = "DEADBEEF"


@pytest.fixture
def allow_list() -> DictAllowList:
    return DictAllowList({
        MINER: Holder("Li Wei", frozenset({DOOR, "lamp-room"})),
        SURVEYOR: Holder("Zhang Min", frozenset({"office"})),
    })


async def watching(run: Running) -> None:
    await eventually(lambda: run.driver.reader == READER)


async def swipe_of(run: Running, virtual: VirtualCard, count: int) -> None:
    """Put the card on the reader until the `count`-th swipe is reported, then take it off and see it noticed."""
    removed = run.counts.get("card_removed", 0)
    async with card_on_reader(virtual):
        await eventually(lambda: len(run.swipes()) >= count)
    await eventually(lambda: run.counts.get("card_removed", 0) > removed)


async def test_a_card_put_on_the_reader_is_one_swipe_with_its_uid_and_the_decision(
        pcscd: Pcscd, allow_list: DictAllowList) -> None:
    async with running_driver(allow_list) as run:
        await watching(run)
        miner = card(pcscd, MINER.lower())
        await swipe_of(run, miner, 1)
        assert run.swipes() == [{
            "card": MINER, "reader": READER, "door": DOOR, "decision": "granted", "reason": "granted",
            "person": "Li Wei", "atr": miner.behaviour.atr.hex().upper(), "source": "pcsc",
        }]
        assert allow_list.asked == [(MINER, DOOR)]
        assert miner.log.apdus == [bytes.fromhex("FFCA000000")]
        assert run.sink.readings[0].device == "pithead-reader"
        assert run.counts["card_inserted"] == 1 and run.counts["granted"] == 1


async def test_the_same_card_again_is_a_second_swipe(pcscd: Pcscd, allow_list: DictAllowList) -> None:
    async with running_driver(allow_list) as run:
        await watching(run)
        miner = card(pcscd, MINER)
        await swipe_of(run, miner, 1)
        await swipe_of(run, miner, 2)
        assert [swipe["card"] for swipe in run.swipes()] == [MINER, MINER]
        assert run.counts["card_inserted"] == 2 and run.counts["card_removed"] == 2


async def test_cards_in_sequence_are_decided_each_on_its_own(pcscd: Pcscd, allow_list: DictAllowList) -> None:
    async with running_driver(allow_list) as run:
        await watching(run)
        for number, uid in enumerate((MINER, VISITOR, SURVEYOR), start=1):
            await swipe_of(run, card(pcscd, uid), number)
        decided = [(swipe["card"], swipe["decision"], swipe["reason"], swipe.get("person")) for swipe in run.swipes()]
        assert decided == [
            (MINER, "granted", "granted", "Li Wei"),
            (VISITOR, "denied", "unknown_card", None),
            (SURVEYOR, "denied", "door_not_allowed", "Zhang Min"),
        ]


async def test_a_reader_given_by_the_start_of_its_name_is_found(pcscd: Pcscd, allow_list: DictAllowList) -> None:
    async with running_driver(allow_list, reader="Virtual PCD") as run:
        await watching(run)
        await swipe_of(run, card(pcscd, MINER), 1)
        assert run.swipes()[0]["reader"] == READER


# What a card answered, the refusal counted, and the error its swipe reports.
NO_UID = [
    ({"status_word": bytes.fromhex("6A81")}, "refused:status 6A81", "status 6A81: function not supported"),
    ({"status_word": bytes.fromhex("6300")}, "refused:status 6300", "status 6300: the reader could not read the card"),
    ({"reply": bytes.fromhex("01")}, "refused:too short", "too short: 1 byte, no status word"),
    ({"reply": bytes.fromhex("9000")}, "refused:empty UID", "empty UID: status 9000 with no data"),
    ({"reply": bytes(200) + bytes.fromhex("9000")}, "refused:UID length", "UID length: 200 bytes (4 to 10 expected)"),
    ({"reply": bytes.fromhex("010203") + bytes.fromhex("9000")}, "refused:UID length",
     "UID length: 3 bytes (4 to 10 expected)"),
]


async def test_cards_that_answer_no_uid_are_refused_with_their_hex_and_denied_then_a_good_card_reads(
        pcscd: Pcscd, allow_list: DictAllowList, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tests.pcsc")
    async with running_driver(allow_list) as run:
        await watching(run)
        for number, (behaviour, refusal, error) in enumerate(NO_UID, start=1):
            bad = card(pcscd, MINER, **behaviour)
            refused_before = run.counts.get(refusal, 0)
            await swipe_of(run, bad, number)
            assert run.swipes()[-1] == {"card": None, "reader": READER, "door": DOOR, "decision": "denied",
                                        "reason": UNREADABLE, "error": error, "atr": bad.behaviour.atr.hex().upper(),
                                        "source": "pcsc"}
            assert run.counts[refusal] == refused_before + 1
            answer = bytes(behaviour.get("reply") or behaviour["status_word"]).hex()
            assert any(record.getMessage().endswith(f"hex={answer}") for record in caplog.records), error
        assert allow_list.asked == []
        await swipe_of(run, card(pcscd, MINER), len(NO_UID) + 1)
        assert run.swipes()[-1]["decision"] == "granted"
        assert run.counts["unreadable"] == len(NO_UID)


async def test_a_card_that_never_answers_is_denied_after_the_read_timeout(
        pcscd: Pcscd, allow_list: DictAllowList) -> None:
    async with running_driver(allow_list, read_timeout=0.5) as run:
        await watching(run)
        await swipe_of(run, card(pcscd, MINER, silent=True), 1)
        assert run.swipes()[0]["reason"] == UNREADABLE
        assert run.swipes()[0]["error"] == "no answer within 0.5s"
        assert run.counts["card_timeout"] == 1
        await swipe_of(run, card(pcscd, MINER), 2)
        assert run.swipes()[1]["decision"] == "granted"


async def test_stopping_while_a_silent_card_holds_the_reader_does_not_hang(
        pcscd: Pcscd, allow_list: DictAllowList) -> None:
    silent = card(pcscd, MINER, silent=True)
    async with running_driver(allow_list, read_timeout=0.3) as run:
        await watching(run)
        await silent.insert()
        await eventually(lambda: run.counts.get("card_timeout", 0) == 1)
    # the driver task was cancelled and awaited above while the card still held the read
    assert silent.inserted
    await silent.remove()


async def test_pcscd_restarted_mid_run_is_recovered_with_offline_trouble_and_restore(
        pcscd: Pcscd, allow_list: DictAllowList) -> None:
    async with running_driver(allow_list, offline_after=0.3) as run:
        await watching(run)
        await swipe_of(run, card(pcscd, MINER), 1)
        pcscd.stop()
        await eventually(lambda: run.driver.reader is None)
        await eventually(lambda: run.counts.get("offline_raised", 0) == 1)
        pcscd.start()
        await eventually(lambda: run.counts.get("offline_restored", 0) == 1)
        await watching(run)
        await swipe_of(run, card(pcscd, MINER), 2)
        assert run.counts["service_lost"] == 1 and run.counts["reader_found"] == 2
        troubles = [reading.data for reading in run.sink.of(Kind.TROUBLE)]
        assert [(trouble["class"], trouble["qualifier"], trouble["source"], trouble["door"]) for trouble in troubles] \
            == [("device_offline", "new", "pcsc", DOOR), ("device_offline", "restore", "pcsc", DOOR)]
        assert [reading.kind for reading in run.sink.readings] == [Kind.CARD_SWIPE, Kind.TROUBLE, Kind.TROUBLE,
                                                                   Kind.CARD_SWIPE]


async def test_pcscd_not_running_is_logged_once_and_retried_until_it_starts(
        pcscd: Pcscd, allow_list: DictAllowList, caplog: pytest.LogCaptureFixture) -> None:
    pcscd.stop()
    caplog.set_level(logging.INFO, logger="tests.pcsc")
    async with running_driver(allow_list) as run:
        await eventually(lambda: run.counts.get("service_unavailable", 0) >= 3)
        pcscd.start()
        await watching(run)
        await swipe_of(run, card(pcscd, MINER), 1)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("pcscd not available" in message for message in messages) == 1
    assert sum("pcscd available again" in message for message in messages) == 1


async def test_a_reader_that_is_not_there_is_looked_for_and_reported_offline(
        pcscd: Pcscd, allow_list: DictAllowList, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tests.pcsc")
    async with running_driver(allow_list, reader="ACS ACR122U", offline_after=0.3) as run:
        await eventually(lambda: run.counts.get("offline_raised", 0) == 1)
        await asyncio.sleep(0.3)  # more looks at the reader list: still one warning, one trouble
        assert run.driver.reader is None
        assert run.sink.of(Kind.TROUBLE)[0].data["detail"] == "reader not listed"
        assert len(run.sink.readings) == 1
    warnings = [record.getMessage() for record in caplog.records if "no reader 'ACS ACR122U'" in record.getMessage()]
    assert len(warnings) == 1 and READER in warnings[0]


class FailingAllowList:
    """An allow-list whose look-up breaks (a bug, a list being swapped): the door must stay shut."""

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        raise RuntimeError(f"list unavailable for {card}")


async def test_a_failing_allow_list_denies_and_a_refusing_outbox_loses_only_that_swipe(pcscd: Pcscd) -> None:
    async with running_driver(FailingAllowList()) as run:
        await watching(run)
        await swipe_of(run, card(pcscd, MINER), 1)
        assert (run.swipes()[0]["decision"], run.swipes()[0]["reason"]) == ("denied", "decider_failed")
        run.sink.refusals = 1
        inserted = run.counts["card_inserted"]
        async with card_on_reader(card(pcscd, VISITOR)):
            await eventually(lambda: run.counts.get("outbox_refused", 0) == 1)
        assert run.counts["card_inserted"] == inserted + 1
        await swipe_of(run, card(pcscd, SURVEYOR), 2)
        assert [swipe["card"] for swipe in run.swipes()] == [MINER, SURVEYOR]

"""The GT06 gateway over real TCP sockets: login first, replies only after the outbox has the readings, CRC policy,
garbage, timeouts, a flood of connections, and commands to a tracker and back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from drivers.gt06.builder import (
    alarm_frame,
    command_reply_frame,
    heartbeat_frame,
    location_frame,
    login_frame,
    parse_command,
)
from drivers.gt06.replies import encode_frame, reply
from shaobing.envelope import Kind
from tests.drivers.gt06.gateway_kit import Tracker, eventually, gateway, tracker
from tests.drivers.tcp_kit import RecordingSink

IMEI = "864717003664467"
OTHER = "359710049095095"
FIX = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def position(serial: int, *, minutes: int = 0, archived: bool = False) -> bytes:
    return location_frame(serial, fix_time=FIX + timedelta(minutes=minutes), lat=22.54 + minutes / 1000,
                          lon=114.05, speed_kmh=15, course=90, archived=archived)


def spoil_crc(frame: bytes) -> bytes:
    return frame[:-4] + bytes([frame[-4] ^ 0x55, frame[-3]]) + frame[-2:]


async def logged_in(client: Tracker, imei: str = IMEI) -> None:
    await client.send(login_frame(imei, 1))
    assert await client.frame() == reply(0x01, 1)


async def test_login_then_positions_status_and_an_alarm_each_answered_with_its_serial() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await logged_in(client)
        for serial, frame in [(2, position(2)), (3, heartbeat_frame(3, armed=True)),
                              (4, alarm_frame(4, alarm="vibration", fix_time=FIX, lat=22.5, lon=114.0))]:
            await client.send(frame)
            answer = await client.frame()
            assert answer == reply(frame[3], serial)
        assert [reading.kind for reading in sink.readings] == [Kind.POSITION, Kind.STATUS, Kind.ALARM,
                                                               Kind.POSITION]
        assert {reading.device for reading in sink.readings} == {IMEI}
        assert sink.of(Kind.ALARM)[0].data["class"] == "vibration"
        assert gw.server.online == frozenset({IMEI}) and gw.counts["logins"] == 1


async def test_frames_sent_one_byte_at_a_time() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        for byte in login_frame(IMEI, 1) + position(2):
            await client.send(bytes([byte]))
        assert await client.frame() == reply(0x01, 1)
        assert await client.frame() == reply(0x12, 2)
        assert len(sink.of(Kind.POSITION)) == 1


async def test_many_frames_in_one_segment_are_answered_in_order() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        frames = [login_frame(IMEI, 1), *(position(serial, minutes=serial) for serial in range(2, 12)),
                  heartbeat_frame(12)]
        await client.send(b"".join(frames))
        answers = [await client.frame() for _ in frames]
        assert answers == [reply(frame[3], serial) for serial, frame in enumerate(frames, start=1)]
        fixes = [reading.data["fix_time"] for reading in sink.of(Kind.POSITION)]
        assert fixes == sorted(fixes) and len(fixes) == 10


async def test_nothing_but_a_login_is_taken_before_the_login_and_strangers_are_dropped() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await client.send(position(1))
        assert await client.nothing_within(0.3)
        await client.send(heartbeat_frame(2) + position(3))
        assert await client.closed_by_peer()
    assert sink.readings == []
    assert gw.refused("not logged in") == 3 and gw.counts["closed:before_login"] == 1


async def test_a_connection_that_never_logs_in_is_closed_after_the_login_timeout() -> None:
    sink = RecordingSink()
    async with gateway(sink, login_timeout=0.3) as gw, tracker(gw.port) as client:
        assert await client.closed_by_peer()
        assert gw.counts["closed:login_timeout"] == 1


async def test_an_idle_tracker_is_closed_after_the_idle_timeout() -> None:
    sink = RecordingSink()
    async with gateway(sink, idle_timeout=0.4) as gw, tracker(gw.port) as client:
        await logged_in(client)
        assert await client.closed_by_peer()
        assert gw.counts["closed:idle_timeout"] == 1
        await eventually(lambda: gw.server.online == frozenset())


async def test_a_bad_crc_is_refused_without_a_reply_and_the_resend_is_taken() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await logged_in(client)
        await client.send(spoil_crc(position(2)))
        assert await client.nothing_within(0.3)
        assert sink.readings == [] and gw.refused("CRC mismatch") == 1
        await client.send(position(2))
        assert await client.frame() == reply(0x12, 2)
        assert len(sink.readings) == 1


async def test_a_lenient_device_is_taken_with_bad_crcs_and_counted() -> None:
    sink = RecordingSink()
    async with gateway(sink, devices={IMEI: {"crc": "lenient"}}) as gw:
        async with tracker(gw.port) as client:
            await client.send(spoil_crc(login_frame(IMEI, 1)))
            assert await client.frame() == reply(0x01, 1)
            await client.send(spoil_crc(position(2)))
            assert await client.frame() == reply(0x12, 2)
        assert gw.counts["crc_lenient"] == 2 and len(sink.readings) == 1
        async with tracker(gw.port) as strict:  # another device keeps the gateway's policy
            await strict.send(spoil_crc(login_frame(OTHER, 1)))
            assert await strict.nothing_within(0.3)
        assert gw.refused("CRC mismatch") == 1


async def test_garbage_between_frames_is_skipped_and_a_garbage_flood_is_dropped() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as honest, tracker(gw.port) as flood:
        await logged_in(honest)
        await honest.send(b"\x00garbage\xff" + position(2) + b"\r\n\r\n" + position(3, minutes=1))
        assert await honest.frame() == reply(0x12, 2)
        assert await honest.frame() == reply(0x12, 3)
        await logged_in(flood, OTHER)
        try:
            for _ in range(50):
                await flood.send(b"\x00garbage\xff" * 100)
        except ConnectionError:
            pass  # closed while still sending: what the test wants
        assert await flood.closed_by_peer()
        assert gw.counts["closed:garbage"] == 1 and gw.refused("garbage skipped") >= 2
        await honest.send(position(4, minutes=2))
        assert await honest.frame() == reply(0x12, 4)
    assert len(sink.readings) == 3


async def test_a_slow_loris_trickling_a_frame_that_never_ends_is_closed() -> None:
    sink = RecordingSink()
    async with gateway(sink, frame_timeout=0.5) as gw, tracker(gw.port) as client:
        await logged_in(client)

        async def trickle() -> None:
            await client.send(b"\x78\x78\xf0\x12")  # a frame of 240 bytes announced
            while True:
                await client.send(b"\x00")
                await asyncio.sleep(0.05)

        task = asyncio.create_task(trickle())
        try:
            assert await client.closed_by_peer(within=10.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert gw.counts["closed:frame_timeout"] == 1 and "closed:idle_timeout" not in gw.counts


async def test_stray_bytes_after_a_frame_do_not_count_as_a_frame_begun() -> None:
    sink = RecordingSink()
    async with gateway(sink, frame_timeout=0.3) as gw, tracker(gw.port) as client:
        await client.send(login_frame(IMEI, 1) + b"\r\n")
        assert await client.frame() == reply(0x01, 1)
        assert await client.nothing_within(0.9)  # three frame timeouts: still open
        await client.send(position(2))
        assert await client.frame() == reply(0x12, 2)
        assert "closed:frame_timeout" not in gw.counts


async def test_the_reply_waits_until_the_outbox_has_the_reading() -> None:
    sink = RecordingSink()
    sink.gate = asyncio.Event()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await client.send(login_frame(IMEI, 1))
        assert await client.frame() == reply(0x01, 1)  # a login is no reading: answered at once
        await client.send(alarm_frame(2, alarm="sos", fix_time=FIX, lat=22.5, lon=114.0))
        await asyncio.wait_for(sink.entered.wait(), 5)
        assert await client.nothing_within(0.3)
        assert sink.readings == []
        sink.gate.set()
        assert await client.frame() == reply(0x16, 2)
        assert [reading.kind for reading in sink.readings] == [Kind.ALARM, Kind.POSITION]


async def test_an_outbox_refusal_means_no_reply_and_the_resend_is_taken() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await logged_in(client)
        sink.refusals = 1
        await client.send(position(2))
        assert await client.nothing_within(0.3)
        assert gw.counts["outbox_refused"] == 1
        await client.send(position(2))
        assert await client.frame() == reply(0x12, 2)
        assert len(sink.of(Kind.POSITION)) == 1


async def test_archived_positions_are_marked_archived() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await logged_in(client)
        await client.send(position(2, minutes=-30, archived=True) + position(3))
        assert await client.frame() == reply(0x22, 2)
        assert await client.frame() == reply(0x12, 3)
        assert [reading.data["archived"] for reading in sink.of(Kind.POSITION)] == [True, False]
        assert gw.counts["archived"] == 1


async def test_a_second_login_with_the_same_imei_replaces_the_first_connection() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as first, tracker(gw.port) as second:
        await logged_in(first)
        await logged_in(second)
        assert await first.closed_by_peer()
        assert gw.counts["replaced"] == 1
        await second.send(position(2))
        assert await second.frame() == reply(0x12, 2)
        await eventually(lambda: gw.server.connection_count == 1)
        assert gw.server.online == frozenset({IMEI})


async def test_an_imei_that_may_not_log_in_is_dropped() -> None:
    sink = RecordingSink()
    async with gateway(sink, accept_unknown_devices=False, devices={IMEI: {}, OTHER: {"allowed": False}}) as gw:
        for imei in (OTHER, "123456789012345"):
            async with tracker(gw.port) as client:
                await client.send(login_frame(imei, 1))
                assert await client.closed_by_peer()
        async with tracker(gw.port) as client:
            await logged_in(client)
        assert gw.refused("login refused") == 2


async def test_an_unknown_protocol_is_refused_but_answered_as_traccar_does() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await logged_in(client)
        await client.send(encode_frame(0x94, b"\x00\x01\x02", 5))
        assert await client.frame() == reply(0x94, 5)
        assert gw.refused("unsupported protocol") == 1 and sink.readings == []


async def test_device_time_from_the_login_zone_when_configured() -> None:
    sink = RecordingSink()
    async with gateway(sink, devices={IMEI: {"device_time": "login_timezone"}}) as gw:
        for imei in (IMEI, OTHER):
            async with tracker(gw.port) as client:
                await client.send(login_frame(imei, 1, tz_minutes=480))
                assert await client.frame() == reply(0x01, 1)
                await client.send(position(2))
                assert await client.frame() == reply(0x12, 2)
    shifted, kept = sink.of(Kind.POSITION)
    assert shifted.device == IMEI and shifted.ts == FIX - timedelta(hours=8)
    assert kept.device == OTHER and kept.ts == FIX


async def test_connections_beyond_max_connections_are_refused() -> None:
    sink = RecordingSink()
    async with gateway(sink, max_connections=2) as gw, tracker(gw.port) as first, tracker(gw.port) as second:
        await logged_in(first)
        await logged_in(second, OTHER)
        async with tracker(gw.port) as third:
            assert await third.closed_by_peer()
        assert gw.counts["refused:max_connections"] == 1
        await first.send(position(2))
        assert await first.frame() == reply(0x12, 2)


async def test_a_flood_of_two_thousand_trackers_is_served() -> None:
    sink = RecordingSink()
    count = 2000
    async with gateway(sink) as gw:

        async def one(index: int) -> bool:
            imei = f"86471700{index:07d}"
            client = await Tracker.connect(gw.port)
            try:
                await client.send(login_frame(imei, 1))
                if await client.frame(within=60) != reply(0x01, 1):
                    return False
                await client.send(position(2))
                return await client.frame(within=60) == reply(0x12, 2)
            finally:
                await client.close()

        results = await asyncio.gather(*(one(index) for index in range(count)))
        assert all(results)
        assert gw.counts["logins"] == count
    assert len({reading.device for reading in sink.of(Kind.POSITION)}) == count


async def test_a_command_goes_out_and_the_trackers_answer_comes_back() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw, tracker(gw.port) as client:
        await logged_in(client)
        command = asyncio.create_task(gw.server.device_command(IMEI, "engine_stop", {"device": IMEI}))
        frame = await client.frame()
        assert frame is not None
        server_flag, text = parse_command(frame)
        assert text == "Relay,1#" and server_flag != 0
        await client.send(command_reply_frame(7, server_flag=server_flag, text="Relay,1# OK"))
        assert await client.frame() == reply(0x15, 7)
        result = await asyncio.wait_for(command, 5)
        assert result is not None and result.ok and result.detail == "Relay,1# OK"
        # Firmware that answers with a zero flag: matched to the one command waiting.
        resume = asyncio.create_task(gw.server.device_command(IMEI, "engine_resume", {"device": IMEI}))
        frame = await client.frame()
        assert frame is not None and parse_command(frame)[1] == "Relay,0#"
        await client.send(command_reply_frame(8, server_flag=0, text="Relay,0# OK"))
        result = await asyncio.wait_for(resume, 5)
        assert result is not None and result.ok and result.detail == "Relay,0# OK"
        assert sink.readings == []  # command replies are not readings


async def test_commands_to_unknown_offline_silent_trackers_and_unknown_names() -> None:
    sink = RecordingSink()
    async with gateway(sink, command_timeout=0.3) as gw:
        assert await gw.server.device_command(IMEI, "engine_stop", {}) is None  # never connected here
        async with tracker(gw.port) as client:
            await logged_in(client)
            unknown = await gw.server.device_command(IMEI, "self_destruct", {})
            assert unknown is not None and not unknown.ok and "engine_stop" in unknown.detail
            silent = await gw.server.device_command(IMEI, "engine_stop", {})
            assert silent is not None and not silent.ok and "no answer" in silent.detail
            pending = asyncio.create_task(gw.server.device_command(IMEI, "engine_resume", {}))
            assert await client.frame() is not None  # the first command
            assert await client.frame() is not None  # this one
        result = await asyncio.wait_for(pending, 5)  # the tracker went away without answering
        assert result is not None and not result.ok
        await eventually(lambda: gw.server.online == frozenset())
        offline = await gw.server.device_command(IMEI, "engine_stop", {})
        assert offline is not None and not offline.ok and "offline" in offline.detail


async def test_a_late_answer_to_a_command_given_up_on_does_not_complete_the_next_one() -> None:
    sink = RecordingSink()
    async with gateway(sink, command_timeout=0.5) as gw, tracker(gw.port) as client:
        await logged_in(client)
        stop = await asyncio.gather(gw.server.device_command(IMEI, "engine_stop", {}), client.frame())
        assert stop[0] is not None and not stop[0].ok  # the tracker was too slow
        assert stop[1] is not None
        stale_flag = parse_command(stop[1])[0]
        resume = asyncio.create_task(gw.server.device_command(IMEI, "engine_resume", {}))
        frame = await client.frame()
        assert frame is not None
        flag, text = parse_command(frame)
        assert text == "Relay,0#" and flag != stale_flag
        # The engine stop's answer arrives now: it is not the answer to the resume waiting.
        await client.send(command_reply_frame(7, server_flag=stale_flag, text="Relay,1# OK"))
        assert await client.frame() == reply(0x15, 7)
        assert gw.counts["command_reply_unmatched"] == 1
        assert not resume.done()
        await client.send(command_reply_frame(8, server_flag=flag, text="Relay,0# OK"))
        result = await asyncio.wait_for(resume, 5)
        assert result is not None and result.ok and result.detail == "Relay,0# OK"


async def test_the_imeis_remembered_are_bounded_and_online_trackers_always_reachable() -> None:
    sink = RecordingSink()
    imeis = [f"86471700366{n:04d}" for n in range(12)]
    async with gateway(sink, max_connections=2) as gw:  # remembers 4 x 2 IMEIs
        async with tracker(gw.port) as first:
            await logged_in(first, imeis[0])
            for imei in imeis[1:]:  # logins with ever new IMEIs, one after another
                async with tracker(gw.port) as client:
                    await logged_in(client, imei)
                await eventually(lambda: gw.server.connection_count == 1)  # room for the next one
            assert gw.server.known_count == 8
            # The first one is no longer remembered, but it is online: a command still reaches it.
            command = asyncio.create_task(gw.server.device_command(imeis[0], "engine_stop", {}))
            frame = await first.frame()
            assert frame is not None
            await first.send(command_reply_frame(5, server_flag=parse_command(frame)[0], text="OK"))
            result = await asyncio.wait_for(command, 5)
            assert result is not None and result.ok
        await eventually(lambda: gw.server.online == frozenset())
        assert await gw.server.device_command(imeis[1], "engine_stop", {}) is None  # forgotten: not said to be here
        offline = await gw.server.device_command(imeis[-1], "engine_stop", {})
        assert offline is not None and "offline" in offline.detail

"""Central's tables (SQLAlchemy Core). Alembic migrations in `central/migrations` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from central.store.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSON documents: JSONB on PostgreSQL (indexable), JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")
# Autoincrement ids that are 64-bit on PostgreSQL and the rowid on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

sites = Table(
    "sites",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("kind", String(32), nullable=False, default="shop"),
    Column("online", Boolean, nullable=True),  # None until the first state message
    Column("online_since", UtcDateTime, nullable=True),
    Column("version", String(64), nullable=True),
    # Arming per partition from `arming` readings, the highest seq winning; "0" is the whole site (no partition):
    # {"1": {"state": "armed", "seq": 17, "at": "2026-11-24T05:00:00.000Z", "user": 3}}.
    Column("arming", Document, nullable=False, default=dict),
    # The whole site's state when it was set last, else whether any partition is armed; None while unknown.
    Column("armed", Boolean, nullable=True),
    Column("last_seq", BigInteger, nullable=False, default=0),  # highest seq stored
    Column("state_last_seq", BigInteger, nullable=True),  # last_seq the edge announced on its state topic
    Column("last_reading_at", UtcDateTime, nullable=True),
    Column("last_test_at", UtcDateTime, nullable=True),  # last supervision signal (test kind, DC-09 poll, 602)
    # The last supervision signal of each device: {"panel-1": "2026-11-24T05:00:00.000Z"}.
    Column("device_tests", Document, nullable=False, default=dict),
    Column("first_seen_at", UtcDateTime, nullable=True),  # supervision counts from here until the first test
    Column("updated_at", UtcDateTime, nullable=True),
    # The site's profile, kept by the centre's staff: the patrol area it belongs to (reports group alarms by it),
    # its address and where it is (the console's map).
    Column("area", String(64), nullable=True),
    Column("address", Text, nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
)

readings = Table(
    "readings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("device", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("ts", UtcDateTime, nullable=False),
    Column("rx", UtcDateTime, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
    Column("data", Document, nullable=False),
    UniqueConstraint("site", "seq", name="uq_readings_site_seq"),
    Index("ix_readings_site_ts", "site", "ts"),
    Index("ix_readings_kind_ts", "kind", "ts"),
)

# Sequence numbers missing below a site's highest stored seq. Readings arrive out of order (alarms overtake), so a
# gap opens when a higher seq arrives and shrinks as the missing ones come; one still open is loss, shown, not hidden.
seq_gaps = Table(
    "seq_gaps",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("detected_at", UtcDateTime, nullable=False),
    Index("ix_seq_gaps_site", "site", "first_seq"),
)

dispatches = Table(
    "dispatches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("reading_id", BigInteger, ForeignKey("readings.id"), nullable=False),
    Column("alarm_class", String(32), nullable=False),
    Column("zone", String(32), nullable=True),
    Column("partition", String(32), nullable=True),
    Column("priority", Integer, nullable=False),
    # raised -> acknowledged -> guard_assigned -> on_scene -> resolved
    Column("state", String(24), nullable=False),
    Column("recipients", Document, nullable=False, default=list),  # names of recipients notified so far
    Column("escalated_at", UtcDateTime, nullable=True),  # when it went to 110; None if it has not
    Column("escalation_reason", String(64), nullable=True),
    Column("guard", String(128), nullable=True),
    Column("outcome", String(32), nullable=True),  # real, false, cancelled_by_user, test, unknown
    Column("incident_class", String(32), nullable=True),  # public_order, criminal, traffic_accident, help_request
    Column("occurrences", Integer, nullable=False, default=1),  # repeats folded into this dispatch
    # When the acknowledgement timer escalates it to 110 if it is still raised; None when no timer runs.
    Column("escalate_at", UtcDateTime, nullable=True),
    # "site|class|zone" while open, None once resolved: unique, so a repeat can never open a second dispatch.
    Column("open_key", String(200), nullable=True, unique=True),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("acknowledged_at", UtcDateTime, nullable=True),
    Column("guard_assigned_at", UtcDateTime, nullable=True),
    Column("on_scene_at", UtcDateTime, nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    # The operator handling it (set by the first action of a staff member): another operator acts on it only by
    # taking it over, on purpose, so two cannot work the same alarm by accident.
    Column("handler", String(128), nullable=True),
    Index("ix_dispatches_state_priority", "state", "priority", "raised_at"),
    Index("ix_dispatches_site", "site", "raised_at"),
    Index("ix_dispatches_escalate_at", "state", "escalate_at"),
    Index("ix_dispatches_raised_at", "raised_at"),  # the reports: every dispatch raised in a period
)

dispatch_transitions = Table(
    "dispatch_transitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dispatch_id", BigInteger, ForeignKey("dispatches.id"), nullable=False),
    Column("action", String(32), nullable=False),  # raise, acknowledge, assign_guard, on_scene, escalate, resolve, ...
    Column("from_state", String(24), nullable=True),
    Column("to_state", String(24), nullable=False),
    Column("actor", String(128), nullable=False),  # operator name, "system", "rule:escalation-timeout", ...
    Column("at", UtcDateTime, nullable=False),
    Column("detail", Document, nullable=False, default=dict),
    Index("ix_dispatch_transitions_dispatch", "dispatch_id", "at"),
)

# Trouble tickets: what is wrong with a site or device (comm failure, AC loss, low battery, ...), open until cleared.
tickets = Table(
    "tickets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("trouble_class", String(32), nullable=False),
    Column("device", String(128), nullable=True),
    Column("zone", String(32), nullable=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("reading_id", BigInteger, nullable=True),
    Column("detail", Text, nullable=False, default=""),
    # Who opened it and so who may close it: "reading" (trouble/restore), "state" (MQTT will), "supervision".
    Column("source", String(16), nullable=False, default="reading"),
    Index("ix_tickets_site_open", "site", "closed_at"),
)

# Durable outbox of webhook deliveries: a recipient that is down gets every dispatch once it is back.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("recipient", String(64), nullable=False),
    Column("event", String(64), nullable=False),  # dispatch.raised, dispatch.escalated, ...
    Column("dispatch_id", BigInteger, nullable=True),
    Column("payload", Document, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_status", Integer, nullable=True),  # HTTP status of the last attempt; None if no response
    Column("failed_at", UtcDateTime, nullable=True),  # refused for good (410 Gone): kept, not retried
    # The lease of the central process sending it now; another process takes the row over once it has expired.
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),
    Index("ix_webhook_outbox_pending", "delivered_at", "next_attempt_at"),
    Index("ix_webhook_outbox_recipient", "recipient", "id"),
)

commands = Table(
    "commands",
    metadata,
    Column("cmd_id", String(64), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("name", String(32), nullable=False),
    Column("args", Document, nullable=False, default=dict),
    Column("issued_by", String(128), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("ok", Boolean, nullable=True),
    Column("detail", Text, nullable=True),
    Column("result_at", UtcDateTime, nullable=True),
)

# MQTT messages central refused (malformed, hostile, a site speaking for another): kept with the reason, acknowledged.
rejected_messages = Table(
    "rejected_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # the first bytes only (see payload_size)
    Column("payload_size", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_rejected_messages_received_at", "received_at"),
)

# -- e-bike trackers and their owners ----------------------------------------------------------------------------------

# Owner accounts (e-bike owners): they log in with phone + password and see only their own trackers.
owners = Table(
    "owners",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("phone", String(32), nullable=False, unique=True),  # the login; personal data, never in a URL or topic
    Column("name", Text, nullable=False, default=""),
    Column("password_hash", String(256), nullable=False),  # hashlib.scrypt, "scrypt$n$r$p$salt_hex$hash_hex"
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
)

# Owner login sessions: only the SHA-256 of the bearer token is kept.
owner_sessions = Table(
    "owner_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("owner_id", BigInteger, ForeignKey("owners.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_owner_sessions_owner", "owner_id"),
)

# One row per GPS tracker (an e-bike), keyed by IMEI. Provisioned by an operator (with the bind code printed on the
# tracker's box), claimed by its owner with that code; created on first sight when a gateway reports an unknown IMEI.
trackers = Table(
    "trackers",
    metadata,
    Column("imei", String(20), primary_key=True),
    Column("site", String(64), nullable=True),  # the tracker gateway (edge site) it last reported through
    Column("name", Text, nullable=False, default=""),
    Column("plate", String(32), nullable=True),
    Column("owner_id", BigInteger, ForeignKey("owners.id"), nullable=True),
    # When its last owner released it: an owner sees the bike's positions from then on, never a previous owner's
    # (None: it never had an owner before, and its owner sees its whole history).
    Column("history_from", UtcDateTime, nullable=True),
    Column("bind_code_hash", String(64), nullable=True),  # SHA-256 hex of the bind code; None: not claimable
    Column("armed", Boolean, nullable=False, default=False),
    Column("armed_at", UtcDateTime, nullable=True),
    Column("armed_by", String(128), nullable=True),
    # Theft rule state (central/trackers/theft.py): where the bike is parked (the current fix at arming or the first
    # counting fix after it, refined while the bike stays), how many consecutive counting fixes lie beyond the
    # configured distance from it, and the theft's progress.
    Column("anchor_lat", Float, nullable=True),
    Column("anchor_lon", Float, nullable=True),
    Column("anchor_time", UtcDateTime, nullable=True),
    Column("anchor_fixes", Integer, nullable=False, default=0),  # how many fixes the anchor is the mean of
    Column("moving_fixes", Integer, nullable=False, default=0),
    # Fix time of the newest fix the rule has counted: older ones (re-uploads arriving late) are judged apart.
    Column("counted_fix_time", UtcDateTime, nullable=True),
    Column("theft_state", String(16), nullable=True),  # None | "alarmed" | "confirmed"
    Column("theft_dispatch_id", BigInteger, nullable=True),
    Column("theft_at", UtcDateTime, nullable=True),
    # The current position: the newest accepted GPS fix by fix time (an archived re-upload never moves it back).
    Column("position_id", BigInteger, nullable=True),
    Column("fix_time", UtcDateTime, nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("speed_kmh", Float, nullable=True),
    Column("course", Float, nullable=True),
    Column("satellites", Integer, nullable=True),
    # The newest cell-tower (LBS) report, kept apart: approximate, never taken for a GPS fix.
    Column("lbs_time", UtcDateTime, nullable=True),
    Column("lbs_cell", Document, nullable=True),
    Column("status", Document, nullable=False, default=dict),  # last status: voltage_level, gsm, charging, acc, ...
    Column("last_seen_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_trackers_owner", "owner_id"),
)

# Every position received, filtered ones included (kept and marked, never thrown away). Nothing references this table
# and every query names a time range, so on PostgreSQL it can be turned into a table partitioned by range of
# `fix_time` (primary key then (id, fix_time)); see docs/trackers.md.
positions = Table(
    "positions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("imei", String(20), nullable=False),
    Column("site", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),  # the reading's (site, seq)
    Column("fix_time", UtcDateTime, nullable=False),  # the device's time of the fix (or of the cell report)
    Column("rx", UtcDateTime, nullable=False),  # when the gateway received it
    Column("stored_at", UtcDateTime, nullable=False),
    Column("source", String(8), nullable=False),  # "gps" | "lbs"
    Column("approximate", Boolean, nullable=False, default=False),  # true for cell-tower positions
    Column("valid", Boolean, nullable=False),  # the device's own "positioned" flag
    Column("archived", Boolean, nullable=False, default=False),  # re-uploaded from the device's buffer
    Column("lat", Float, nullable=True),  # None for a cell report without coordinates
    Column("lon", Float, nullable=True),
    Column("speed_kmh", Float, nullable=True),
    Column("course", Float, nullable=True),
    Column("satellites", Integer, nullable=True),
    Column("cell", Document, nullable=True),
    # Why the position is not used for the current position, tracks and the theft rule (invalid, zero, duplicate,
    # future, jump, ...); None when it is accepted.
    Column("filtered", String(32), nullable=True),
    Index("ix_positions_imei_fix_time", "imei", "fix_time"),
)

# Read-only share links for the police: only the SHA-256 of the link's token is kept.
share_links = Table(
    "share_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("imei", String(20), ForeignKey("trackers.imei"), nullable=False),
    Column("created_by", String(128), nullable=False),  # "owner:17" or an operator's name (the theft's confirmer too)
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_share_links_imei", "imei"),
)

# -- people and places: watch-list, rental buildings, mine communities (central/people) --------------------------------

# Persons sought by the police. Only the keyed hash of the ID number is kept (HMAC-SHA256 under [people]
# watchlist_key): a copy of the database does not give the list away, and a look-up is one primary-key probe.
watchlist = Table(
    "watchlist",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("case_ref", String(64), nullable=False, default=""),
    Column("imported_at", UtcDateTime, nullable=False),
    Column("imported_by", String(128), nullable=False),
)

# Each time a watched person was read or registered: seen by the police role only.
watchlist_hits = Table(
    "watchlist_hits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("id_hash", LargeBinary(32), nullable=False),
    Column("id_number", String(32), nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("source", String(16), nullable=False),  # "id_read" | "registration"
    Column("site", String(64), nullable=False),
    Column("service_point", String(128), nullable=True),
    Column("reader", String(128), nullable=True),
    Column("reading_id", BigInteger, nullable=False),
    Column("dispatch_id", BigInteger, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("case_ref", String(64), nullable=False, default=""),
    Column("seen_at", UtcDateTime, nullable=False),  # the reading's time at the site
    Column("at", UtcDateTime, nullable=False),  # when central found the hit
    Index("ix_watchlist_hits_at", "at"),
)

# People central knows by their ID card (from a service point's reader) or residence card.
persons = Table(
    "persons",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("id_number", String(32), nullable=False, unique=True),
    Column("name", Text, nullable=False, default=""),
    Column("gender", String(16), nullable=True),
    Column("nation", String(32), nullable=True),
    Column("birth_date", String(16), nullable=True),
    Column("address", Text, nullable=True),
    Column("card_type", String(32), nullable=True),
    Column("key_person", Boolean, nullable=False, default=False),  # e.g. an explosives handler in a mine
    Column("last_seen_at", UtcDateTime, nullable=True),  # the last card swipe anywhere, granted or not
    Column("last_seen_site", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

buildings = Table(
    "buildings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    UniqueConstraint("site", "name", name="uq_buildings_site_name"),
)

rooms = Table(
    "rooms",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("building_id", BigInteger, ForeignKey("buildings.id"), nullable=False),
    Column("name", String(128), nullable=False),
    UniqueConstraint("building_id", "name", name="uq_rooms_building_name"),
)

beds = Table(
    "beds",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("room_id", BigInteger, ForeignKey("rooms.id"), nullable=False),
    Column("name", String(128), nullable=False),
    UniqueConstraint("room_id", "name", name="uq_beds_room_name"),
)

# A person living on a bed, from a registration until moving out.
tenancies = Table(
    "tenancies",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("bed_id", BigInteger, ForeignKey("beds.id"), nullable=False),
    Column("person_id", BigInteger, ForeignKey("persons.id"), nullable=False),
    Column("reading_id", BigInteger, nullable=False),  # the id_read the registration was made from
    Column("moved_in_at", UtcDateTime, nullable=False),
    Column("moved_in_by", String(128), nullable=False),
    Column("moved_out_at", UtcDateTime, nullable=True),
    Column("moved_out_by", String(128), nullable=True),
    # The bed's id and "site|person" while the tenancy lasts, None after: one person per bed, one bed per person.
    Column("bed_open", BigInteger, nullable=True, unique=True),
    Column("person_open", String(100), nullable=True, unique=True),
    Index("ix_tenancies_site", "site", "moved_out_at"),
)

# Access cards: a card UID bound to a person at a site, for some doors, within a validity window.
cards = Table(
    "cards",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("uid", String(32), nullable=False),
    Column("person_id", BigInteger, ForeignKey("persons.id"), nullable=False),
    Column("doors", Document, nullable=False, default=list),
    Column("valid_from", UtcDateTime, nullable=True),
    Column("valid_to", UtcDateTime, nullable=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("issued_by", String(128), nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by", String(128), nullable=True),
    Column("active_key", String(100), nullable=True, unique=True),  # "site|uid" until revoked
    Index("ix_cards_site_person", "site", "person_id"),
)

# The last allow-list version sent to each site: it only grows.
access_lists = Table(
    "access_lists",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
)

# A mine's pithead doors: a granted swipe at an "in" door takes its person below, at an "out" door back up.
pithead_doors = Table(
    "pithead_doors",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("door", String(64), primary_key=True),
    Column("direction", String(3), nullable=False),  # "in" | "out"
)

# Every granted card swipe.
movements = Table(
    "movements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("reading_id", BigInteger, nullable=False),
    Column("person_id", BigInteger, nullable=True),  # None: a card central does not know
    Column("card", String(32), nullable=False),
    Column("reader", String(128), nullable=True),
    Column("door", String(64), nullable=True),
    Column("direction", String(3), nullable=True),  # "in" | "out" at a pithead door, else None
    Column("at", UtcDateTime, nullable=False),
    Index("ix_movements_site_at", "site", "at"),
    Index("ix_movements_person_at", "person_id", "at"),
)

# Who is below ground in each mine, since when.
underground = Table(
    "underground",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("person_id", BigInteger, primary_key=True),
    Column("since", UtcDateTime, nullable=False),
    Column("reading_id", BigInteger, nullable=False),
)

# A mine's headcount alarm: the dispatch raised when it went over its limit, until back under.
mine_states = Table(
    "mine_states",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("over_since", UtcDateTime, nullable=True),
    Column("dispatch_id", BigInteger, nullable=True),
)

# Console sessions of the monitoring centre's staff (users from the configuration): only the token's SHA-256 is kept.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("login", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_staff_sessions_login", "login"),
)

# Every action of a person at central, with who and when: logins, dispatch actions, action-plan steps, take-overs,
# commands, exports. Dispatch transitions keep the dispatch's own trail; this is the one place to read a shift back.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),  # login, login_failed, logout, dispatch.acknowledge, plan.step, ...
    Column("target", String(200), nullable=True),  # "dispatch:12", "site:shop-0001", ...
    Column("detail", Document, nullable=False, default=dict),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_target", "target", "at"),
)

# Action-plan steps marked on a dispatch: done, or not applicable with a reason. A dispatch whose class has a plan is
# resolved only once every step is marked.
dispatch_plan_marks = Table(
    "dispatch_plan_marks",
    metadata,
    Column("dispatch_id", BigInteger, ForeignKey("dispatches.id"), primary_key=True),
    Column("step", String(64), primary_key=True),  # the step's key in the plan
    Column("status", String(16), nullable=False),  # done, skipped
    Column("note", Text, nullable=True),
    Column("actor", String(128), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

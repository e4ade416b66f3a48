"""Central's tables (SQLAlchemy Core). Alembic migrations in `central/migrations` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
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
    Index("ix_dispatches_state_priority", "state", "priority", "raised_at"),
    Index("ix_dispatches_site", "site", "raised_at"),
    Index("ix_dispatches_escalate_at", "state", "escalate_at"),
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

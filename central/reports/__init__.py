"""The monitoring centre's reports: response times per step by local day, false alarms by site, alarms by area and
hour of day. Each is one SQLAlchemy Core query computed in the database (SQLite and PostgreSQL alike), over the
dispatches raised in a period, with the watch-list's dispatches left out (staff never see them). docs/reports.md
says what each one means."""

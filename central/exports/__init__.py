"""A bike's track out of central: read from `positions` in fix-time order, in chunks, and written as GPX 1.1, KML 2.2
or CSV while it is read (a month of a bike reporting every 10 s is a quarter of a million points: none of the formats
holds them all in memory, and no database connection is held while a slow client reads)."""

"""NMEA 0183 from GNSS receivers: the sentence codec, the epoch assembler, and a serial or TCP position driver."""

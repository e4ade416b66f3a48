"""Simulated GT06 (Concox) e-bike trackers: street-grid rides, parked GPS drift, the device's resend buffer, fleets.

The pure models (`geo`, `streets`, `route`, `drift`, `bike`) know nothing of the wire; `device` puts a bike behind a
GT06 TCP connection built from `drivers.gt06.builder`, and `fleet` runs thousands of them in one asyncio process.
"""

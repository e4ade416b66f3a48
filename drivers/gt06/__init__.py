"""GT06 (Concox) GPS tracker gateway: the TCP server e-bike trackers report to."""

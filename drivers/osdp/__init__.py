"""OSDP card readers: the edge box is the control panel (CP) of a reader on a serial line, through libosdp."""

"""SIA DC-09 (IP alarm transmission) receiver: codec, encryption, replies and the TCP server."""

"""The PC/SC tests' private pcscd: the fixtures `pcsc_run_dir` and `pcscd` live in tests/conftest.py.

They must be defined once for the whole run: libpcsclite reads PCSCLITE_CSOCK_NAME once per process and keeps it, so
a second definition (a second socket directory) in the same process would talk to the first one's socket.
"""

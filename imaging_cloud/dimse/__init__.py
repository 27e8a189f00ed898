"""DIMSE: a C-STORE / C-ECHO SCP feeding the same ingest as STOW-RS."""

"""The one ingest function behind STOW-RS (and DIMSE C-STORE): resolve, de-identify, verify, store, index."""

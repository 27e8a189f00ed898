"""PS3.15 tables as generated package data (see scripts/generate-annex-e-table); never edited by hand."""

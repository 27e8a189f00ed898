"""imaging-cloud: a regional medical-imaging cloud (一卡一云) with de-identification before storage."""

__version__ = "0.1.0"

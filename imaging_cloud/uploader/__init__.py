"""The hospital uploader: find DICOM files, send them in streamed STOW-RS batches, retry, resume, summarise.

Also the patient cross-reference CSV import (``imaging-cloud xref import``). Talks to the service only over
HTTP, like any PACS gateway would, so it runs on a hospital machine without the database or the keys.
"""

"""Diagnostic reports (PDF, text, DICOM SR, Encapsulated PDF) stored beside their study."""

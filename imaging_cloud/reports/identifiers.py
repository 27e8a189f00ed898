"""The service's import path for report identifiers; the implementation lives in :mod:`deidentify.pinyin`."""

from deidentify.pinyin import pinyin_spellings, report_scrubber, with_pinyin

__all__ = ["pinyin_spellings", "report_scrubber", "with_pinyin"]

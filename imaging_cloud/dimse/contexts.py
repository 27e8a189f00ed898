"""What the SCP negotiates: every storage SOP Class the ingest accepts, in the common transfer syntaxes, plus C-ECHO.

A SOP Class that pynetdicom knows but the ingest would refuse is left out, so the sender hears "abstract syntax not
supported" at association time instead of a failure status for every instance it sends.
"""

from __future__ import annotations

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AllStoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext

from imaging_cloud.ingest.service import is_storage_sop_class

#: The SCP's preference when a sender offers several in one presentation context (pynetdicom accepts the first of
#: these that the sender offered): uncompressed, then lossless, then lossy, so a sender that offered something
#: lossless is never asked to compress lossily.
TRANSFER_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    RLELossless,
    JPEGLSNearLossless,
    JPEG2000,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
)

VERIFICATION_SOP_CLASS = UID("1.2.840.10008.1.1")


def storage_sop_classes() -> list[UID]:
    """The storage SOP Classes both pynetdicom and the ingest know, in pynetdicom's order."""
    return [
        UID(cx.abstract_syntax)
        for cx in AllStoragePresentationContexts
        if cx.abstract_syntax is not None and is_storage_sop_class(cx.abstract_syntax)
    ]


def supported_contexts() -> list[PresentationContext]:
    """Verification (implicit/explicit little endian) and one context per storage SOP Class."""
    contexts = [build_context(VERIFICATION_SOP_CLASS, [ImplicitVRLittleEndian, ExplicitVRLittleEndian])]
    contexts.extend(build_context(uid, list(TRANSFER_SYNTAXES)) for uid in storage_sop_classes())
    return contexts

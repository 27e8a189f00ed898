"""The one-time code as a QR code (SVG), so a doctor can scan the patient's phone instead of typing."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def qr_svg(text: str) -> str:
    """An SVG (one path, no external references) encoding ``text``; medium error correction survives a glare."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, image_factory=qrcode.image.svg.SvgPathImage)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue().decode("utf-8")

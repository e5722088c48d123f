"""Pictures inside a report: each PNG of a plots/ folder becomes a data URI, re-encoded to
whichever is smallest of the original, a 256-colour PNG (line art: curves, tables of numbers)
and a JPEG (photo-like pictures: weight tiles), so a report stays small. The pictures in
plots/ are left as they are."""

import base64
import io

JPEG_QUALITY = 85


def smallest_encoding(png):
    """(mime type, bytes): the smallest faithful-looking encoding of the PNG bytes `png`."""
    from PIL import Image

    candidates = [("image/png", png)]
    try:
        with Image.open(io.BytesIO(png)) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError):
        return candidates[0]  # not a picture PIL can read: embedded as it is
    palette = io.BytesIO()
    rgb.quantize(colors=256).save(palette, format="PNG", optimize=True)
    candidates.append(("image/png", palette.getvalue()))
    jpeg = io.BytesIO()
    rgb.save(jpeg, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    candidates.append(("image/jpeg", jpeg.getvalue()))
    return min(candidates, key=lambda c: len(c[1]))


def data_uri(png):
    """A data: URI of the PNG bytes `png`, re-encoded smaller when that helps."""
    mime, data = smallest_encoding(png)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

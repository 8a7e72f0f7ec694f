"""Checks that an answer is really an image: a PNG that decodes, an SVG document."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ElementTree

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, from its header; asserts the image also decodes."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert (length, chunk) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        from matplotlib.image import imread

        pixels = imread(io.BytesIO(data), format="png")
        assert pixels.shape[:2] == (height, width)
    else:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every row: a truncated or corrupt PNG raises here
            assert image.size == (width, height)
    return width, height


def svg_root(data: bytes) -> ElementTree.Element:
    """The root element of an SVG document; asserts it is one."""
    root = ElementTree.fromstring(data)
    assert root.tag == f"{SVG_NAMESPACE}svg", root.tag
    return root

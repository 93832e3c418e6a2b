"""The page icon, drawn here (a small blue attention grid) so the browser fetches no icon font
(a :material: icon or an emoji as page_icon is loaded from fonts.gstatic.com)."""
from __future__ import annotations

import numpy as np
from PIL import Image


def page_icon(size: int = 32) -> Image.Image:
    """A 4 x 4 lower-triangular attention pattern in blues, as an RGB image of size x size."""
    levels = np.array([[1.0, 0, 0, 0], [0.45, 0.55, 0, 0], [0.2, 0.5, 0.3, 0], [0.1, 0.2, 0.3, 0.4]])
    light, dark = np.array([239, 243, 255]), np.array([8, 48, 107])
    cells = light + (dark - light) * levels[..., None]  # (4, 4, 3)
    pixels = np.kron(cells, np.ones((size // 4, size // 4, 1))).astype(np.uint8)  # (size, size, 3)
    return Image.fromarray(pixels, "RGB")

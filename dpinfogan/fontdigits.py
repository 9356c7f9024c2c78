"""Public, synthetic digits rendered from fonts: the data of the warm start.

A private run may start from weights pretrained on public data at no privacy cost: DP protects
the private training set, and these images hold nobody's data. They are the digits 0–9 drawn
with the TrueType fonts found on the machine (Pillow's embedded font always; DejaVu, Liberation and
others when installed), each with a random stroke width, rotation, shear, scale and shift and a
light blur, then centred and sized like MNIST (a 20×20 box in a 28×28 frame, white on black). They
are disjoint from MNIST by construction: no handwriting at all.
"""
from __future__ import annotations

import glob
import math
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .data import ImageData, to_float

NAME = "font-digits"
FONT_GLOBS = ("/usr/share/fonts/truetype/**/*.ttf", "/usr/share/fonts/**/*.otf", "/Library/Fonts/*.ttf",
              "C:/Windows/Fonts/*.ttf")
_CANVAS = 64  # render large, then shrink: smoother strokes


def font_files() -> list[str]:
    """TrueType/OpenType files on this machine that can draw the ten digits (sorted, deduplicated)."""
    found = sorted({f for g in FONT_GLOBS for f in glob.glob(g, recursive=True)})
    ok = []
    for f in found:
        try:
            font = ImageFont.truetype(f, 40)
            if all(font.getbbox(str(d))[2] > 0 for d in range(10)):
                ok.append(f)
        except OSError:
            continue
    return ok


def _fonts(size: int) -> list[ImageFont.FreeTypeFont]:
    fonts = [ImageFont.load_default(size=size)]  # Pillow's embedded font: present everywhere
    fonts += [ImageFont.truetype(f, size) for f in font_files()]
    return fonts


def _render(digit: int, font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> np.ndarray:
    """One digit as an MNIST-like (28, 28) uint8 image."""
    img = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(img)
    stroke = int(rng.integers(1, 5))  # 1–4 px extra stroke at 64 px: pen to marker (MNIST strokes are thick)
    draw.text((_CANVAS / 2, _CANVAS / 2), str(digit), fill=255, font=font, anchor="mm",
              stroke_width=stroke, stroke_fill=255)
    # random affine: rotation ±12°, shear ±0.25, anisotropic scale 0.8–1.15
    a, sh = math.radians(rng.uniform(-12, 12)), rng.uniform(-0.25, 0.25)
    sx, sy = rng.uniform(0.8, 1.15), rng.uniform(0.85, 1.15)
    m = np.array([[math.cos(a) / sx, -math.sin(a) / sx + sh, 0.0], [math.sin(a) / sy, math.cos(a) / sy, 0.0]])
    c = _CANVAS / 2
    m[:, 2] = [c - m[0, 0] * c - m[0, 1] * c, c - m[1, 0] * c - m[1, 1] * c]  # about the centre
    img = img.transform(img.size, Image.AFFINE, tuple(m.flatten()), resample=Image.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    return mnist_frame(np.asarray(img), rng)


def mnist_frame(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Crop to the ink, fit into 20×20 keeping the aspect ratio, centre by mass in 28×28 (MNIST's recipe)."""
    ys, xs = np.nonzero(a > 30)
    if len(ys) == 0:
        return np.zeros((28, 28), np.uint8)
    crop = Image.fromarray(a[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    s = 20.0 / max(crop.size)
    crop = crop.resize((max(1, round(crop.size[0] * s)), max(1, round(crop.size[1] * s))), Image.LANCZOS)
    out = np.zeros((28, 28), np.float32)
    w, h = crop.size
    x0, y0 = (28 - w) // 2, (28 - h) // 2
    out[y0:y0 + h, x0:x0 + w] = np.asarray(crop, np.float32)
    yy, xx = np.mgrid[0:28, 0:28]
    mass = out.sum()
    dy = int(round(13.5 - (yy * out).sum() / mass + rng.integers(-1, 2)))  # ±1 px jitter
    dx = int(round(13.5 - (xx * out).sum() / mass + rng.integers(-1, 2)))
    # the shift never pushes ink over the border (np.roll would wrap it to the other side)
    dy, dx = int(np.clip(dy, -y0, 28 - h - y0)), int(np.clip(dx, -x0, 28 - w - x0))
    out = np.roll(np.roll(out, dy, axis=0), dx, axis=1)
    return np.clip(out, 0, 255).astype(np.uint8)


def font_digits(n: int = 20000, seed: int = 0, fonts: Optional[list] = None) -> ImageData:
    """``n`` rendered digits, balanced over 0–9 and over the available fonts; (n, 1, 28, 28) in [-1, 1].

    Public data: the seed may be published, and the images hold nobody's information.
    """
    if n < 10:
        raise ValueError(f"font digits: ask for at least 10 images, got {n}")
    rng = np.random.default_rng(seed)
    fonts = fonts or _fonts(size=44)
    labels = np.arange(n) % 10
    imgs = np.stack([_render(int(d), fonts[i // 10 % len(fonts)], rng) for i, d in enumerate(labels)])
    return ImageData(name=NAME, images=to_float(torch.from_numpy(imgs)), labels=torch.from_numpy(labels).long(),
                     source=f"{n} digits rendered from {len(fonts)} fonts (public, synthetic; seed {seed})",
                     requested=NAME)

"""Draw the app's PNG icons from the same design as static/icons/icon.svg (a white tick on
the brand green), once; the PNGs are committed. Run: .venv/bin/python tools/make_icons.py

- icon-192.png, icon-512.png: rounded square on transparency ("any" purpose);
- icon-maskable-512.png: full-bleed square, tick inside the central 80 % safe zone;
- apple-touch-icon.png (180 px): full square without transparency (iOS rounds it itself).
"""

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parent.parent / "dutypwa" / "static" / "icons"
BRAND = (0x1F, 0x6F, 0x5C, 255)
WHITE = (255, 255, 255, 255)
SUPERSAMPLE = 4  # draw large, then shrink: smooth edges without an anti-aliasing API
# The SVG's tick on its 64-unit grid: M18 34 l9 9 19 -21, stroke width 7, round caps.
TICK = [(18, 34), (27, 43), (46, 22)]
TICK_WIDTH = 7
CORNER_RADIUS = 14


def draw_icon(size: int, *, rounded: bool, glyph_scale: float = 1.0) -> Image.Image:
    big = size * SUPERSAMPLE
    unit = big / 64
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=CORNER_RADIUS * unit, fill=BRAND)
    else:
        draw.rectangle((0, 0, big, big), fill=BRAND)
    # Scale the tick about the centre (32, 32) of the grid.
    points = [
        ((32 + (x - 32) * glyph_scale) * unit, (32 + (y - 32) * glyph_scale) * unit)
        for x, y in TICK
    ]
    width = TICK_WIDTH * glyph_scale * unit
    draw.line(points, fill=WHITE, width=round(width), joint="curve")
    radius = width / 2
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    draw_icon(192, rounded=True).save(ICONS / "icon-192.png", optimize=True)
    draw_icon(512, rounded=True).save(ICONS / "icon-512.png", optimize=True)
    # Launchers crop maskable icons to a circle or squircle: keep the tick well inside.
    draw_icon(512, rounded=False, glyph_scale=0.72).save(
        ICONS / "icon-maskable-512.png", optimize=True
    )
    draw_icon(180, rounded=False).convert("RGB").save(ICONS / "apple-touch-icon.png", optimize=True)
    for path in sorted(ICONS.glob("*.png")):
        print(f"{path.relative_to(ICONS.parent.parent.parent)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()

"""The slips page as a person sees it: rendered by headless Chromium, on screen and on A4.

Skips when Chromium is absent (``apt-get install chromium``; ``make install`` brings it).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario
from tai_labs.exam.slips import make_slips, render_slips

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)"
)


def session(count: int) -> Session:
    return Session(
        name="ccp2-2027-01-12",
        block="CCP2",
        scenarios=(
            SessionScenario(
                id="compte-verrouille",
                title="Compte verrouillé au service comptabilité",
                block="CCP2",
                file="/x/scenario.yaml",
                variants=4,
            ),
        ),
        duration=120,
        start=datetime(2027, 1, 12, 8, 0, tzinfo=UTC),
        created=datetime(2027, 1, 1, tzinfo=UTC),
        draw_key="0" * 32,
        candidates=tuple(
            Candidate(
                login=f"camille-nguyen{i}",
                nom="Nguyễn-Lefèvre",
                prenom="Camille",
                roster_line=i + 2,
                login_derived=True,
                draws=(Draw(scenario="compte-verrouille", seed=i, variant={}),),
            )
            for i in range(count)
        ),
    )


def chromium(*args: str) -> None:
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


def ink_by_half(png: bytes) -> tuple[float, float]:
    """Share of non-white pixels in the left and right halves of an 8-bit RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    prev, ink = bytearray(stride), [0, 0]
    for y in range(height):
        filt, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = prev[x], prev[x - channels] if x >= channels else 0
            if filt == 1:
                line[x] = (line[x] + a) & 255
            elif filt == 2:
                line[x] = (line[x] + b) & 255
            elif filt == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, channels):
            if min(line[x : x + 3]) < 200:
                ink[x >= stride // 2] += 1
        prev = line
    half = width * height / 2
    return ink[0] / half, ink[1] / half


def test_slips_render_offline_two_a_row_and_print_on_a4(tmp_path: Path) -> None:
    s = session(12)
    slips = make_slips(s)
    page = tmp_path / "billets.html"
    page.write_text(render_slips(s, slips), encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.read_text(encoding="utf-8"))

    shot = tmp_path / "billets.png"
    chromium(f"--screenshot={shot}", "--window-size=900,1200", page.as_uri())
    assert shot.stat().st_size > 20_000  # a blank page is about 5 kB
    left, right = ink_by_half(shot.read_bytes())
    assert left > 0.01 and right > 0.01, (left, right)  # slips in both columns

    pdf = tmp_path / "billets.pdf"
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    data = pdf.read_bytes()
    pages = int(re.findall(rb"/Type /Pages\s*/Count (\d+)", data)[0])
    # 12 slips, two a row, none cut across pages: 3 or 4 A4 pages, not 12
    assert 2 <= pages <= 4, pages

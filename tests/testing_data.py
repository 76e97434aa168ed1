"""Paths of the real FER data in ../shared/data, and a skip marker for its absence."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FER2013 = SHARED_DATA / "fer2013"
needs_fer2013 = pytest.mark.skipif(not FER2013.is_dir(), reason="../shared/data/fer2013 is absent")
FERPLUS = SHARED_DATA / "ferplus"
needs_ferplus = pytest.mark.skipif(not FERPLUS.is_dir(), reason="../shared/data/ferplus is absent")

"""Vietnamese name tables with plausible frequencies, and a fast weighted sampler.

The surname shares follow published estimates (Nguyễn about 38 %, Trần 11 %, Lê 9.5 % ...);
middle and given names are weighted by how common they are in everyday use. The weights are
relative, so the tables need not sum to 100. All text is NFC.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Final, Generic, TypeVar

T = TypeVar("T")


def seeded_rng(seed: int | str) -> random.Random:
    """Return a private RNG for ``seed`` (an int, or a str such as ``"7:pension"``).

    A str seed is hashed with SHA-512 by ``random.Random``, so it does not depend on
    PYTHONHASHSEED. Not for secrets: reproducible synthetic data is the whole point.
    """
    return random.Random(seed)  # noqa: S311 - deliberately a seeded, reproducible PRNG


class WeightedTable(Generic[T]):
    """A fixed table of values with relative weights, sampled with one ``random()`` call.

    ``random.Random.choices`` rebuilds its cumulative weights on every call; generating a
    million people calls the samplers ten million times, so the sums are built once here.
    """

    __slots__ = ("_cumulative", "_last", "_total", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        """Build the table from ``(value, weight)`` pairs; weights must be positive."""
        if not pairs or any(weight <= 0 for _, weight in pairs):
            raise ValueError("a weighted table needs positive weights")
        self.values: tuple[T, ...] = tuple(value for value, _ in pairs)
        self._cumulative = list(accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]
        self._last = len(self.values) - 1

    def pick(self, rng: random.Random) -> T:
        """Return one value, drawn with probability proportional to its weight."""
        # random() < 1.0, but the float product can round up to the total itself: the
        # search's upper bound keeps the index in range without a separate clamp.
        return self.values[
            bisect_right(self._cumulative, rng.random() * self._total, 0, self._last)
        ]

    def share(self, value: T) -> float:
        """Return the expected share (0-1) of ``value`` in a large sample."""
        index = self.values.index(value)
        low = self._cumulative[index - 1] if index else 0.0
        return (self._cumulative[index] - low) / self._total


#: Surnames (họ) with approximate shares in percent of the population.
SURNAMES: Final = WeightedTable([
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 3.0),
    ("Huỳnh", 2.1), ("Phan", 4.5), ("Vũ", 2.2), ("Võ", 1.7), ("Đặng", 2.1), ("Bùi", 2.0),
    ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5),
    # The tail: common enough to meet in any commune list.
    ("Đào", 0.45), ("Đoàn", 0.45), ("Trịnh", 0.4), ("Đinh", 0.45), ("Trương", 0.45),
    ("Hà", 0.4), ("Lương", 0.3), ("Mai", 0.3), ("Lâm", 0.3), ("Cao", 0.25), ("Lưu", 0.2),
    ("Tô", 0.2), ("Phùng", 0.2), ("Vương", 0.2), ("Châu", 0.2), ("Tạ", 0.15),
    ("Triệu", 0.15), ("Kiều", 0.1), ("Quách", 0.1), ("Thái", 0.1), ("La", 0.1),
    ("Lò", 0.1), ("Lục", 0.08), ("Nông", 0.12), ("Hứa", 0.08), ("Mạc", 0.05),
    ("Tôn", 0.05), ("Khúc", 0.04), ("Ông", 0.04), ("Giang", 0.05), ("Thân", 0.05),
])

#: Middle names (tên đệm) for men.
MIDDLE_MALE: Final = WeightedTable([
    ("Văn", 30.0), ("Hữu", 8.0), ("Đức", 8.0), ("Minh", 8.0), ("Quốc", 6.0),
    ("Đình", 5.0), ("Công", 5.0), ("Quang", 5.0), ("Thanh", 4.0), ("Xuân", 3.0),
    ("Trọng", 3.0), ("Thế", 3.0), ("Ngọc", 2.0), ("Tuấn", 2.0), ("Hoàng", 2.0),
    ("Anh", 2.0), ("Gia", 2.0), ("Bá", 2.0), ("Duy", 2.0), ("Chí", 2.0),
    ("Mạnh", 1.0), ("Trung", 1.0), ("Tấn", 1.5), ("Thành", 1.5), ("Nhật", 1.0),
])

#: Middle names (tên đệm) for women.
MIDDLE_FEMALE: Final = WeightedTable([
    ("Thị", 45.0), ("Ngọc", 8.0), ("Thu", 5.0), ("Thanh", 5.0), ("Kim", 4.0),
    ("Hồng", 4.0), ("Mỹ", 3.0), ("Phương", 3.0), ("Thùy", 3.0), ("Bích", 2.0),
    ("Minh", 2.0), ("Khánh", 2.0), ("Bảo", 2.0), ("Xuân", 2.0), ("Diệu", 1.0),
    ("Hoài", 1.0), ("Tuyết", 1.0), ("Lan", 1.0), ("Quỳnh", 1.0), ("Như", 1.0),
    ("Cẩm", 1.0), ("Hải", 1.0), ("Mai", 1.0),
])

#: Given names (tên) for men.
GIVEN_MALE: Final = WeightedTable([
    ("Hùng", 5.0), ("Dũng", 5.0), ("Tuấn", 5.0), ("Minh", 5.0), ("Nam", 4.5),
    ("Hải", 4.5), ("Sơn", 4.5), ("Long", 4.0), ("Thắng", 4.0), ("Cường", 4.0),
    ("Hưng", 3.5), ("Phúc", 3.0), ("Đức", 3.0), ("Trung", 3.0), ("Thành", 3.5),
    ("Hiếu", 3.0), ("Huy", 3.5), ("Khánh", 2.5), ("Quân", 2.5), ("Tùng", 2.5),
    ("Bình", 3.0), ("An", 2.5), ("Hoàng", 2.5), ("Vinh", 2.5), ("Tâm", 2.0),
    ("Toàn", 2.0), ("Thịnh", 2.0), ("Lâm", 1.5), ("Phong", 2.0), ("Kiên", 1.5),
    ("Quang", 2.0), ("Tài", 2.0), ("Lộc", 2.0), ("Đạt", 2.5), ("Bảo", 2.0),
    ("Khoa", 1.5), ("Duy", 2.0), ("Tú", 1.5), ("Việt", 2.0), ("Hào", 1.0),
    ("Thái", 1.5), ("Tiến", 2.0), ("Hòa", 2.0), ("Nghĩa", 2.0), ("Tín", 1.0),
    ("Trí", 1.5), ("Lợi", 1.5), ("Sang", 1.0), ("Phát", 1.0), ("Tân", 1.5),
    ("Chiến", 1.5), ("Thuận", 1.0), ("Hiệp", 1.0), ("Công", 1.0), ("Đông", 1.0),
    ("Khải", 0.8), ("Lực", 0.8), ("Quý", 1.0), ("Thạch", 0.5), ("Nhân", 1.0),
])

#: Given names (tên) for women.
GIVEN_FEMALE: Final = WeightedTable([
    ("Lan", 5.0), ("Hương", 5.0), ("Hoa", 4.5), ("Hằng", 4.0), ("Linh", 4.5),
    ("Trang", 4.5), ("Hà", 4.0), ("Thảo", 4.0), ("Mai", 4.0), ("Nga", 3.5),
    ("Hạnh", 3.5), ("Dung", 3.0), ("Phương", 3.0), ("Anh", 3.5), ("Ngọc", 2.5),
    ("Yến", 3.0), ("Huyền", 3.0), ("Thủy", 3.0), ("Loan", 2.5), ("Liên", 2.5),
    ("Nhung", 2.5), ("Thu", 2.0), ("Vân", 2.5), ("Hiền", 2.5), ("Oanh", 2.0),
    ("Tuyết", 2.0), ("Hồng", 2.5), ("Nhi", 2.0), ("Trinh", 2.0), ("Ly", 1.5),
    ("Nhàn", 1.5), ("Chi", 1.5), ("Vy", 1.5), ("Quỳnh", 2.0), ("Diệp", 1.0),
    ("Châu", 1.0), ("Uyên", 1.5), ("Giang", 1.5), ("My", 1.5), ("Thúy", 2.0),
    ("Xuân", 1.5), ("Huệ", 1.5), ("Cúc", 1.5), ("Đào", 1.0), ("Lệ", 1.0),
    ("Sen", 1.0), ("Tâm", 1.5), ("Nguyệt", 1.0), ("Bích", 1.0), ("Duyên", 1.5),
])

#: Number of words in a full name: surname + given, one middle name, two middle names.
TOKEN_COUNTS: Final = WeightedTable([(2, 4.0), (3, 78.0), (4, 18.0)])

_MIDDLES: Final = {"male": MIDDLE_MALE, "female": MIDDLE_FEMALE}
_GIVENS: Final = {"male": GIVEN_MALE, "female": GIVEN_FEMALE}


def random_name(rng: random.Random, gender: str) -> str:
    """Return an NFC full name of 2-4 words for a person of ``gender`` ("male"/"female").

    Four-word names either carry the mother's surname after the father's ("Nguyễn Trần Minh
    Anh") or two middle names ("Lê Thị Thu Hà"); no word is repeated.
    """
    words = [SURNAMES.pick(rng)]
    count = TOKEN_COUNTS.pick(rng)
    if count == 4 and rng.random() < 0.3:
        words.append(_fresh(rng, SURNAMES, words))
    middles = _MIDDLES[gender]
    while len(words) < count - 1:
        words.append(_fresh(rng, middles, words))
    words.append(_fresh(rng, _GIVENS[gender], words))
    return " ".join(words)


def other_given_name(rng: random.Random, full_name: str, gender: str) -> str:
    """Return ``full_name`` with its given name (last word) replaced by a different one."""
    words = full_name.split()
    words[-1] = _fresh(rng, _GIVENS[gender], words)
    return " ".join(words)


def _fresh(rng: random.Random, table: WeightedTable[str], taken: Sequence[str]) -> str:
    """Draw from ``table`` until the word is not one already in the name."""
    while True:
        word = table.pick(rng)
        if word not in taken:
            return word

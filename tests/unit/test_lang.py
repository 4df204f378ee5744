"""DISBURSE_LANG: Vietnamese by default, English on request, for text and one-line errors."""

from __future__ import annotations

import pytest

from disburse.core.errors import Conflict, DomainError, InvalidTransition, NotFound
from disburse.core.lang import Lang, current_lang, pick


@pytest.mark.parametrize(("value", "expected"), [
    (None, Lang.VI), ("", Lang.VI), ("vi", Lang.VI), ("EN", Lang.EN), (" en ", Lang.EN),
    ("fr", Lang.VI),
])
def test_the_language_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                 value: str | None, expected: Lang) -> None:
    if value is None:
        monkeypatch.delenv("DISBURSE_LANG", raising=False)
    else:
        monkeypatch.setenv("DISBURSE_LANG", value)
    assert current_lang() is expected
    assert pick("Không tìm thấy", "Not found") == (
        "Not found" if expected is Lang.EN else "Không tìm thấy")


@pytest.mark.parametrize(("error", "vi", "en"), [
    (NotFound("batch 7"), "Không tìm thấy: batch 7", "Not found: batch 7"),
    (InvalidTransition("draft -> sent"), "Chuyển trạng thái không hợp lệ: draft -> sent",
     "Invalid state transition: draft -> sent"),
    (Conflict("twice"), "Xung đột dữ liệu: twice", "Conflict: twice"),
])
def test_one_line_errors_speak_the_chosen_language(monkeypatch: pytest.MonkeyPatch,
                                                   error: DomainError, vi: str,
                                                   en: str) -> None:
    monkeypatch.delenv("DISBURSE_LANG", raising=False)
    assert error.one_line() == vi
    monkeypatch.setenv("DISBURSE_LANG", "en")
    assert error.one_line() == en
    assert error.to_problem()["title"] == en.split(":")[0]  # the API keeps its English title


def test_an_error_with_only_an_english_title_keeps_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Odd(Conflict):
        title = "Odd thing"

    monkeypatch.delenv("DISBURSE_LANG", raising=False)
    assert Odd("x").one_line() == "Odd thing: x"  # not the parent's "Xung đột dữ liệu"


def test_every_kernel_error_has_a_vietnamese_title() -> None:
    def tree(cls: type[DomainError]) -> list[type[DomainError]]:
        return [cls] + [sub for child in cls.__subclasses__() for sub in tree(child)]

    from disburse.core import errors

    kernel = [cls for cls in tree(DomainError) if cls.__module__ == errors.__name__]
    assert len(kernel) >= 10
    for cls in kernel:
        assert "title_vi" in vars(cls), cls
        assert cls.title_vi != cls.title

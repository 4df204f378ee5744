"""The command line speaks Vietnamese unless DISBURSE_LANG=en; --json never changes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CliRun


@pytest.fixture
def vietnamese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISBURSE_LANG", raising=False)  # the default


@pytest.mark.usefixtures("vietnamese")
def test_tables_have_vietnamese_headers_by_default(run_cli: CliRun) -> None:
    assert run_cli("users", "add", "lan", "--role", "preparer", "--password-stdin",
                   input="a long enough password\n").exit_code == 0
    users = run_cli("users", "list")
    assert users.exit_code == 0, users.output
    assert users.output.splitlines() == ["Tên đăng nhập\tVai trò\tTrạng thái",
                                         "lan\tpreparer\tđang hoạt động"]
    batches = run_cli("batch", "list")
    assert batches.output.splitlines() == [
        "ID\tChương trình\tKỳ\tTỉnh\tTrạng thái\tSố lệnh\tTổng (VND)\tNgười lập"]
    assert run_cli("keys", "init").exit_code == 0
    listed = run_cli("beneficiaries", "list")
    assert listed.output.splitlines()[:2] == [
        "0 người thụ hưởng",
        "ID\tChương trình\tCCCD\tHọ và tên\tTỉnh/Xã\tSố tiền/tháng\tHình thức nhận\tTrạng thái"]


def test_english_on_request(run_cli: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISBURSE_LANG", "en")
    assert run_cli("batch", "list").output.splitlines()[0].startswith("id\tprogramme\tperiod")


@pytest.mark.usefixtures("vietnamese")
def test_errors_are_one_vietnamese_line_by_default(run_cli: CliRun) -> None:
    shown = run_cli("batch", "show", "999")
    assert shown.exit_code == 1
    assert shown.output.startswith("Lỗi: Không tìm thấy: ")
    assert len(shown.output.strip().splitlines()) == 1


@pytest.mark.usefixtures("vietnamese")
def test_json_output_does_not_change_with_the_language(run_cli: CliRun,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    vi = run_cli("batch", "list", "--json").output
    monkeypatch.setenv("DISBURSE_LANG", "en")
    assert run_cli("batch", "list", "--json").output == vi
    assert json.loads(vi) == []

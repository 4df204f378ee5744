"""The end-to-end demo run by ``make demo``: the service's main job, on embedded SQLite.

Every step is a real ``disburse`` command, printed before it runs, against real processes on
loopback: a synthetic population and its pension list; the reference population registry;
one bank simulator for the paying bank and one per e-wallet provider; the post office as a
folder exchange, answered here. The list is imported, every beneficiary verified, a batch built,
submitted and approved by a second person; then two nightly runs write and sign the payment
files, send them through the outbox, fetch the signed returns and reconcile them, and the
cashless report is printed and exported. Everything lives under ``var/demo`` (removed first).
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openpyxl import load_workbook

from bank_adapters.file_exchange import exchange_root
from disburse.core import signing
from disburse.core.private_files import write_atomically

DISBURSE = str(Path(sys.executable).parent / "disburse")
PERIOD = "2026-11"
SEED = "2026"
PAYING_BANK = "970436"  # the pension's paying bank in the shipped routing
WALLETS = {"971005": "viettelmoney", "971011": "vnptmoney", "971025": "momo"}
POST_OFFICE_BIN = "970449"
BANK_TOKEN = secrets.token_urlsafe(16)


def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run one command, echoing it and its output; return the output."""
    print(f"\n$ disburse {' '.join(args)}", flush=True)
    done = subprocess.run([DISBURSE, *args], input=stdin, text=True, capture_output=True,
                          check=False)
    print((done.stdout + done.stderr).rstrip(), flush=True)
    if check and done.returncode != 0:
        raise SystemExit(f"demo step failed: disburse {' '.join(args)}")
    return done.stdout


def start(args: list[str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    """Start a reference service in the background; return it and its base URL."""
    print(f"\n$ disburse {' '.join(args)}   (background)", flush=True)
    process = subprocess.Popen([DISBURSE, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    print(line.strip(), flush=True)
    match = re.search(pattern + r" listening on (http://127\.0\.0\.1:\d+)", line)
    if match is None:
        process.kill()
        raise SystemExit(f"{args[0]} did not start")
    return process, match.group(1)


def prepare(demo: Path) -> None:
    """Environment, schema, keys, users, synthetic data and the routing for the simulators."""
    shutil.rmtree(demo, ignore_errors=True)
    demo.mkdir(parents=True)
    routing = json.loads(resources.files("disburse.payments").joinpath("routing_default.json")
                         .read_text(encoding="utf-8"))
    routing["routes"]["vcb"]["transport"] = "http_api"  # the bank simulator speaks HTTP
    (demo / "routes.json").write_text(json.dumps(routing, indent=1), encoding="utf-8")
    os.environ.update(DISBURSE_DATA_DIR=str(demo / "var"), DISBURSE_KEY_DIR=str(demo / "keys"),
                      DISBURSE_LOG_DIR=str(demo / "var/log"),
                      DISBURSE_ROUTES_FILE=str(demo / "routes.json"))
    os.environ.pop("DISBURSE_DATABASE_URL", None)
    for bank_bin in (PAYING_BANK, *WALLETS):
        os.environ[f"DISBURSE_BANK_{bank_bin}_TOKEN"] = BANK_TOKEN
    run("db", "upgrade")
    run("keys", "init")
    for name, role in (("lan.nguyen", "preparer"), ("minh.tran", "approver"),
                       ("hoa.le", "auditor")):
        run("users", "add", name, "--role", role, "--password-stdin",
            stdin=secrets.token_urlsafe(18) + "\n")
    run("synth", "population", "--count", "6000", "--out", str(demo / "population.csv"),
        "--seed", SEED)
    run("synth", "lists", "--population", str(demo / "population.csv"), "--out",
        str(demo / "lists"), "--seed", SEED, "--period", PERIOD)
    run("synth", "accounts", "--population", str(demo / "population.csv"), "--lists",
        str(demo / "lists"), "--out", str(demo / "bank-accounts.csv"), "--seed", SEED,
        "--missing-rate", "0.02", "--closed-rate", "0.02", "--blocked-rate", "0.01")
    run("keys", "export-public", "--out", str(demo / "service-public.pem"))


def start_services(demo: Path) -> list[subprocess.Popen[str]]:
    """The population registry and the bank simulators, registered as banks."""
    token = secrets.token_urlsafe(16)
    registry, url = start(["popdb", "serve", "--data", str(demo / "population.csv"), "--port",
                           "0", "--token", token, "--db", str(demo / "popdb.sqlite3")], "popdb")
    os.environ.update(DISBURSE_REGISTRY_URL=url, DISBURSE_REGISTRY_TOKEN=token)
    processes = [registry]
    for bank_bin, route in {PAYING_BANK: "vcb", **WALLETS}.items():
        bank, bank_url = start(
            ["banksim", "serve", "--bin", bank_bin, "--port", "0", "--accounts",
             str(demo / "bank-accounts.csv"), "--service-public-key",
             str(demo / "service-public.pem"), "--key-dir", str(demo / "banks"),
             "--token", BANK_TOKEN, "--db", str(demo / f"banksim-{bank_bin}.sqlite3")],
            f"banksim {bank_bin}")
        processes.append(bank)
        run("banks", "add", "--bin", bank_bin, "--name", route.upper(), "--route", route,
            "--public-key", str(demo / "banks" / f"banksim-{bank_bin}.pub.pem"),
            "--api-url", bank_url)
    return processes


def post_office_pays(demo: Path, key: Ed25519PrivateKey) -> None:
    """Play the post office: pay everyone on its cash lists and send a signed paid report."""
    exchange = exchange_root(demo / "var", POST_OFFICE_BIN)
    rows = []
    for path in sorted((exchange / "outbox").glob("*.xlsx")):
        for sheet in load_workbook(path, read_only=True).worksheets:
            table = list(sheet.iter_rows(values_only=True))
            head = next(i for i, r in enumerate(table) if r and r[0] == "STT")
            columns = list(table[head])
            for row in table[head + 1:]:
                if isinstance(row[0], int):
                    rows.append((row[columns.index("Mã giao dịch")], row[1],
                                 row[columns.index("Số tiền")]))
    print(f"\n(post office) paid {len(rows)} people in cash; signed report sent back")
    report_path = demo / "post-office-report.csv"
    with report_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Mã giao dịch", "Họ và tên", "Số tiền", "Trạng thái", "Ngày chi trả",
                         "Lý do"])
        writer.writerows([e2e, name, amount, "Đã chi trả", "25/11/2026", ""]
                         for e2e, name, amount in rows)
    report = report_path.read_bytes()
    write_atomically(exchange / "inbox" / "paid-report.csv.sig", key.sign(report))
    write_atomically(exchange / "inbox" / "paid-report.csv", report)


def pay_the_month(demo: Path) -> None:
    """Import, verify, build, approve, then the nightly runs and the reports."""
    pension = demo / "lists" / f"pension_{PERIOD}.csv"
    run("beneficiaries", "import", str(pension), "--program", "pension", "--actor",
        "lan.nguyen", check=False)  # all-or-nothing: the synthetic list has defects
    run("beneficiaries", "import", str(pension), "--program", "pension", "--actor",
        "lan.nguyen", "--accept-valid")
    run("verify", "--program", "pension", "--actor", "lan.nguyen")
    created = json.loads(run("batch", "create", "--program", "pension", "--period", PERIOD,
                             "--actor", "lan.nguyen", "--json"))
    batch = str(created["batch_id"])
    run("batch", "submit", batch, "--actor", "lan.nguyen")
    run("batch", "approve", batch, "--actor", "lan.nguyen", check=False)  # maker != checker
    run("batch", "approve", batch, "--actor", "minh.tran")
    run("scheduler", "run", "--once")  # night 1: files, outbox, bank returns
    post_key = Ed25519PrivateKey.generate()
    (demo / "post-office.pem").write_bytes(signing.public_key_pem(post_key.public_key()))
    run("banks", "add", "--bin", POST_OFFICE_BIN, "--name", "VNPOST", "--route", "post",
        "--public-key", str(demo / "post-office.pem"))
    post_office_pays(demo, post_key)
    run("scheduler", "run", "--once")  # night 2: the post office's paid report
    run("batch", "show", batch)
    run("report", "cashless", "--period", PERIOD, "--by", "programme,province")
    run("report", "cashless", "--period", PERIOD, "--format", "xlsx", "--out",
        str(demo / "cashless.xlsx"))
    run("report", "cashless", "--period", PERIOD, "--by", "programme,province", "--format",
        "png", "--out", str(demo / "cashless.png"))
    run("returns", "exceptions")
    run("audit", "verify")


def main() -> None:
    """Run the demo under ``var/demo``."""
    demo = Path("var/demo").resolve()
    prepare(demo)
    processes = start_services(demo)
    try:
        pay_the_month(demo)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    print(f"\nDemo finished. Reports: {demo / 'cashless.xlsx'} and {demo / 'cashless.png'}")


if __name__ == "__main__":
    main()

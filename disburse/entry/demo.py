"""The end-to-end demo run by ``make demo``: the service's main job, on embedded SQLite.

Every step is a real ``disburse`` command, printed before it runs, against real processes on
loopback: a synthetic population and its pension list; the reference population registry;
one bank simulator for the paying bank and one per e-wallet provider; the post office as a
folder exchange, answered here. The list is imported, every beneficiary verified, a batch built,
submitted and approved by a second person; then two nightly runs write and sign the payment
files, send them through the outbox, fetch the signed returns and reconcile them, and the
cashless report is printed and exported. Everything lives under ``var/demo`` (removed first):
its database, payment files and reports directly there, its keys in ``var/demo/keys``.

Quiet by default: one progress line per step, then a summary of the month's payments by state,
checked (exit status 1 when they do not add up to the batch), the demo users' logins and an
``.env`` file to use the demo data afterwards (``set -a; . var/demo/.env``). ``-v`` prints every
command with its full output.
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
#: The demo's users: fixed names, one password generated per run and printed at the end.
USERS = (("lan.nguyen", "preparer"), ("minh.tran", "approver"), ("hoa.le", "auditor"))
PASSWORD = secrets.token_urlsafe(12)
VERBOSE = False
_STEP = [0]


def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run one command (a progress line, or the command and its output with ``-v``)."""
    _STEP[0] += 1
    if VERBOSE:
        print(f"\n$ disburse {' '.join(args)}", flush=True)
    else:
        print(f"[{_STEP[0]:2}] disburse {' '.join(_short(a) for a in args)}", flush=True)
    done = subprocess.run([DISBURSE, *args], input=stdin, text=True, capture_output=True,
                          check=False)
    if VERBOSE:
        print((done.stdout + done.stderr).rstrip(), flush=True)
    if check and done.returncode != 0:
        if not VERBOSE:
            print((done.stdout + done.stderr).rstrip()[-2000:], file=sys.stderr)
        raise SystemExit(f"demo step failed: disburse {' '.join(args)}")
    return done.stdout


def _short(arg: str) -> str:
    """A path argument shown relative to the working directory, to keep progress lines short."""
    try:
        return str(Path(arg).relative_to(Path.cwd())) if arg.startswith("/") else arg
    except ValueError:
        return arg


def start(args: list[str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    """Start a reference service in the background; return it and its base URL."""
    if VERBOSE:
        print(f"\n$ disburse {' '.join(args)}   (background)", flush=True)
    process = subprocess.Popen([DISBURSE, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    print(f"     {line.strip()}" if not VERBOSE else line.strip(), flush=True)
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
    os.environ.update(_reuse_env(demo), DISBURSE_LOG_DIR=str(demo / "log"),
                      DISBURSE_ROUTES_FILE=str(demo / "routes.json"))
    for bank_bin in (PAYING_BANK, *WALLETS):
        os.environ[f"DISBURSE_BANK_{bank_bin}_TOKEN"] = BANK_TOKEN
    run("db", "upgrade")
    run("keys", "init")
    for name, role in USERS:
        run("users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
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
    exchange = exchange_root(demo, POST_OFFICE_BIN)
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
    print(f"     (post office) paid {len(rows)} people in cash; signed report sent back")
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


def _reuse_env(demo: Path) -> dict[str, str]:
    """The settings that point a ``disburse`` command at the demo's data."""
    return {"DISBURSE_DATA_DIR": str(demo), "DISBURSE_KEY_DIR": str(demo / "keys"),
            "DISBURSE_DATABASE_URL": f"sqlite:///{demo / 'disburse.sqlite3'}"}


def pay_the_month(demo: Path) -> str:
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
    return batch


def month_figures(demo: Path, batch: str) -> dict[str, int]:
    """Count the batch's payments by state, and those paid in cash, from the demo database."""
    from sqlalchemy import func, select

    from disburse.core.db import make_engine
    from disburse.payments.models import Instruction

    engine = make_engine(_reuse_env(demo)["DISBURSE_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Instruction.state, Instruction.channel, func.count())
                .where(Instruction.batch_id == int(batch))
                .group_by(Instruction.state, Instruction.channel)).all()
    finally:
        engine.dispose()
    figures: dict[str, int] = {"instructions": 0, "cash": 0}
    for state, channel, count in rows:
        figures["instructions"] += count
        figures[state] = figures.get(state, 0) + count
        if channel == "cash":
            figures["cash"] += count
    return figures


def check_figures(figures: dict[str, int], created: int) -> list[str]:
    """What does not add up: every instruction of the batch settled one way or another."""
    problems = []
    if figures["instructions"] != created:
        problems.append(f"{figures['instructions']} payments, the batch had {created}")
    final = sum(figures.get(state, 0) for state in ("paid", "rejected", "returned"))
    if final != figures["instructions"]:
        problems.append(f"{figures['instructions'] - final} payments still without an answer")
    return problems


def summary(demo: Path, figures: dict[str, int], problems: list[str]) -> None:
    """Print the month's figures, where the data is, and how to use it afterwards."""
    env_file = demo / ".env"
    env_file.write_text("".join(f"{name}={value}\n"
                                for name, value in _reuse_env(demo).items()), encoding="utf-8")
    env_file.chmod(0o600)
    print(f"\nThe month {PERIOD}: {figures['instructions']:,} payments: "
          f"{figures.get('paid', 0):,} paid, {figures.get('rejected', 0):,} rejected, "
          f"{figures.get('returned', 0):,} returned; {figures['cash']:,} in cash "
          f"through the post office")
    print("Checked: " + ("every payment has its answer" if not problems
                         else "; ".join(problems)))
    print(f"Reports:  {demo / 'cashless.xlsx'}, {demo / 'cashless.png'}")
    print(f"Database: {_reuse_env(demo)['DISBURSE_DATABASE_URL']}")
    print(f"Keys:     {demo / 'keys'}")
    print(f"Logins (password {PASSWORD}): "
          + ", ".join(f"{name} ({role})" for name, role in USERS))
    print(f"Use the demo data: set -a; . {env_file}; set +a; disburse batch list")


def main(argv: list[str] | None = None) -> None:
    """Run the demo under ``var/demo``; ``-v`` prints every command's full output."""
    global VERBOSE
    args = sys.argv[1:] if argv is None else argv
    VERBOSE = "-v" in args or "--verbose" in args
    demo = Path("var/demo").resolve()
    prepare(demo)
    processes = start_services(demo)
    try:
        batch = pay_the_month(demo)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    created = json.loads(run("batch", "show", batch, "--json"))["count"]
    figures = month_figures(demo, batch)
    problems = check_figures(figures, created)
    summary(demo, figures, problems)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

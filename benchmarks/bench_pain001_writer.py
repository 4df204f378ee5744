"""Throughput of the pain.001 writer and the Ed25519 signature on 1,000,000 transactions.

Run: ``PYTHONPATH=. python benchmarks/bench_pain001_writer.py [--count N] [--verify]``

Each phase runs in its own child process so its peak RSS (``resource.getrusage``) is its own:

* ``baseline``: the same XML from a bare f-string template into the file with
  ``hashlib.sha256`` over the bytes: the floor for pure-Python file writing.
* ``disburse``: build ``PaymentLine`` objects (checked), ``write_pain001`` with upper-case ASCII
  names, ``sign_file`` (Ed25519 over the exact bytes) and ``write_manifest``. The lines are
  also built once on their own first, so ``writer_only_s`` (build+write minus build) isolates
  the writer. The phase's seconds are build + write + sign, without that extra pass.
* ``verify`` (with ``--verify``): ``verify_file`` on that file (signature, manifest, and a
  streaming re-count of every transaction).

Targets from the design: build + write + sign under 60 s and under 1 GiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from beneficiaries.rules.text import bank_form
from disburse.core import signing
from disburse.payments.payment_files import (
    BankProfile,
    FileHeader,
    PaymentLine,
    write_pain001,
)
from disburse.payments.payment_files import manifest as file_manifest

FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi")
MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Ngọc", "Thanh", "Hữu", "Quốc")
GIVEN = ("An", "Bình", "Đào", "Hùng", "Lan", "Mai", "Nam", "Phúc", "Quỳnh", "Sơn", "Tâm", "Yến")
BINS = ("970436", "970415", "970418", "970405", "970422")


def header() -> FileHeader:
    """Return the fixed header used by every phase."""
    return FileHeader(
        msg_id="BENCH-2026-11-79-PENS", created_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
        initiating_party_name="Sở LĐ-TB&XH TP. Hồ Chí Minh", initiating_party_id="SLDTBXH79",
        debtor_name="SO LAO DONG TBXH TP HCM", debtor_account="0011001234567",
        debtor_bin="970436", debtor_bic=None, requested_execution_date=date(2026, 11, 25),
        batch_id="B-2026-11-79", payment_info_id="PI-2026-11-79", category_purpose="PENS",
    )


def raw_rows(count: int) -> Iterator[tuple[str, int, str, str, str]]:
    """Yield (end_to_end_id, amount, name, account, bin) deterministically."""
    for i in range(count):
        name = f"{FAMILY[i % 11]} {MIDDLE[i % 8]} {GIVEN[i % 12]}"
        yield f"PENS2611-79-{i:010d}", 1_500_000 + (i % 997) * 1_000, name, f"{i:013d}", \
            BINS[i % 5]


def payment_lines(count: int) -> Iterator[PaymentLine]:
    """Yield checked ``PaymentLine`` objects built from ``raw_rows``."""
    for e2e, amount, name, account, bin_code in raw_rows(count):
        yield PaymentLine(e2e, amount, name, account, bin_code, None, "PENS",
                          "pension 2026-11", "79", "26734")


def phase_baseline(count: int, out_dir: Path) -> dict[str, float]:
    """Write the same XML with a bare template and hash it; no checks, no signature."""
    digest = hashlib.sha256()
    total = 0
    with (out_dir / "baseline.xml").open("wb") as out:
        buffer: list[str] = []
        for e2e, amount, name, account, bin_code in raw_rows(count):
            total += amount
            buffer.append(
                f"<CdtTrfTxInf><PmtId><EndToEndId>{e2e}</EndToEndId></PmtId>"
                f'<Amt><InstdAmt Ccy="VND">{amount}</InstdAmt></Amt><CdtrAgt><FinInstnId>'
                f"<ClrSysMmbId><MmbId>{bin_code}</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>"
                f"<Cdtr><Nm>{escape(bank_form(name))}</Nm></Cdtr><CdtrAcct><Id><Othr><Id>"
                f"{account}</Id></Othr></Id></CdtrAcct><Purp><Cd>PENS</Cd></Purp>"
                "<RmtInf><Ustrd>pension 2026-11</Ustrd></RmtInf></CdtTrfTxInf>\n"
            )
            if len(buffer) >= 4096:
                data = "".join(buffer).encode()
                digest.update(data)
                out.write(data)
                buffer.clear()
        data = "".join(buffer).encode()
        digest.update(data)
        out.write(data)
    return {"total": total}


def phase_disburse(count: int, out_dir: Path) -> dict[str, float]:
    """Build lines, write the pain.001 file, sign it and write its manifest."""
    path = out_dir / "pain001.xml"
    ctrl_sum = sum(amount for _e, amount, _n, _a, _b in raw_rows(count))
    key = signing.generate_ed25519()
    key_id = signing.key_id_for(key.public_key())
    build_started = time.perf_counter()
    for _line in payment_lines(count):  # the cost of building checked lines, on its own
        pass
    build_only = time.perf_counter() - build_started
    started = time.perf_counter()
    with path.open("wb") as out:
        result = write_pain001(out, header(), payment_lines(count),
                               profile=BankProfile("bench", ascii_upper_names=True),
                               nb_of_txs=count, ctrl_sum=ctrl_sum)
    written = time.perf_counter()
    signing.sign_file(path, key, key_id=key_id)
    file_manifest.write_manifest(
        path, sha256=result.sha256, size=result.size, msg_id=header().msg_id, nb_of_txs=count,
        ctrl_sum=ctrl_sum, batch_id="B-2026-11-79", batch_hash="0" * 64, key_id=key_id,
        alg="ed25519", signed_at=datetime.now(UTC))
    signed = time.perf_counter()
    (out_dir / "pub.pem").write_bytes(signing.public_key_pem(key.public_key()))
    return {"seconds": signed - started,  # build + write + sign; the extra build pass excluded
            "build_only_s": build_only, "build_write_s": written - started,
            "writer_only_s": written - started - build_only, "sign_s": signed - written,
            "bytes": result.size}


def phase_verify(count: int, out_dir: Path) -> dict[str, float]:
    """Verify the signed file: signature, manifest and a full streaming re-count."""
    public = signing.load_public_key_pem((out_dir / "pub.pem").read_bytes())
    problems = file_manifest.verify_file(out_dir / "pain001.xml", public)
    return {"problems": len(problems)}


PHASES = {"baseline": phase_baseline, "disburse": phase_disburse, "verify": phase_verify}


def run_child(phase: str, count: int, out_dir: Path) -> None:
    """Run one phase in this process and print its figures as JSON."""
    started = time.perf_counter()
    figures = PHASES[phase](count, out_dir)
    figures.setdefault("seconds", time.perf_counter() - started)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def measure(phase: str, count: int, out_dir: Path) -> dict[str, float]:
    """Run ``phase`` in a fresh interpreter and return its figures."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", phase, "--count", str(count), "--dir", str(out_dir)],
        check=True, capture_output=True, text=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Run the phases and print seconds, tx/s and peak RSS, with ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--child", choices=sorted(PHASES))
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.count, args.dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        phases = ["baseline", "disburse"] + (["verify"] if args.verify else [])
        results = {phase: measure(phase, args.count, Path(tmp)) for phase in phases}
    base = results["baseline"]
    print(f"{args.count:,} transactions")
    for phase, figures in results.items():
        seconds, rss = figures["seconds"], figures["peak_rss_mib"]
        extra = ", ".join(f"{k}={v:,.2f}" for k, v in figures.items()
                          if k not in {"seconds", "peak_rss_mib"})
        print(f"{phase:9s} {seconds:7.2f} s  {args.count / seconds:>10,.0f} tx/s  "
              f"peak RSS {rss:7.1f} MiB  time x{seconds / base['seconds']:.2f}  "
              f"RSS x{rss / base['peak_rss_mib']:.2f}  ({extra})")


if __name__ == "__main__":
    main()

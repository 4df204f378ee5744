"""Run the reference population registry: ``python -m disburse.entry.popdb serve ...``."""

from disburse.entry.popdb.cli import popdb

if __name__ == "__main__":
    popdb.main(prog_name="python -m disburse.entry.popdb")

"""Run the reference population registry: ``python -m beneficiaries.popdb serve ...``."""

from beneficiaries.popdb.cli import popdb

if __name__ == "__main__":
    popdb.main(prog_name="python -m beneficiaries.popdb")

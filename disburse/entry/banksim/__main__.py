"""Run the bank simulator: ``python -m disburse.entry.banksim serve ...``."""

from disburse.entry.banksim.cli import banksim

if __name__ == "__main__":
    banksim.main(prog_name="python -m disburse.entry.banksim")

"""Run the bank simulator: ``python -m bank_adapters.banksim serve ...``."""

from bank_adapters.banksim.cli import banksim

if __name__ == "__main__":
    banksim.main(prog_name="python -m bank_adapters.banksim")

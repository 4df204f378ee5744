"""The ``disburse`` command line: the click group (``main``) and one module per command family."""

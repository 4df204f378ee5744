"""disburse: non-cash social-security disbursement service.

Three folders, one direction: ``disburse.core`` (the shared kernel, which imports no domain),
``disburse.payments`` (the payment-batch domain) and ``disburse.entry`` (the entry points:
``create_app`` in ``disburse.entry.app``, the CLI, the scheduler, the reference services),
which nothing imports. This module stays free of side effects so that importing the kernel
pulls in nothing else.
"""

__version__ = "0.1.0"

"""disburse: non-cash social-security disbursement service.

The application shell and the payment-batch domain. Import ``create_app`` from
``disburse.app``; this module stays free of side effects so the domain packages can import
``disburse.db`` and friends without pulling in Flask.
"""

__version__ = "0.1.0"

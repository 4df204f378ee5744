"""Entry points: the app factory (the one composition root), the JSON API blueprints, the
``disburse`` command line, the scheduler, the demo, the all-models module for Alembic, and the
reference services (``popdb``, ``banksim``).

They import the domains and the kernel; nothing imports them.
"""

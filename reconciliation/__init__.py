"""Return intake, return-file parsers, matching, exceptions, cashless metrics and reports."""

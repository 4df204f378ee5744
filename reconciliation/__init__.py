"""Return-file parsers, matching, exceptions, cashless metrics and reports."""

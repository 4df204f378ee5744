"""Payment batches: entitlements, maker-checker approval, routing and payment files."""

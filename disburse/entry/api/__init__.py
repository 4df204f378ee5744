"""The JSON API under ``/api/v1``: one blueprint module per area (registered by ``app``)."""

"""Shop platforms' own webhooks (CONTRACT §4b), each mapped onto the one order ingest.

A module per platform turns the platform's payload into the §4 order body; the
body then takes the same path as `/api/v1/webhooks/orders` (schema, ingest,
welcome mail), so every rule there holds here too.
"""

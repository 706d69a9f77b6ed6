"""`benefit-ledger relay`: derived events to NATS JetStream, with a durable checkpoint.

`publisher` names the subjects and publishes a pass, `store` keeps the per-tenant checkpoints in
the database (the leases per tenant are `services/ledger/leases.py`), `nats_client` connects,
and `command` is the CLI entry `run_relay`.
"""

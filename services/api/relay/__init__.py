"""`benefit-ledger relay`: derived events to NATS JetStream, with a durable checkpoint.

`publisher` names the subjects and publishes a pass, `store` keeps the lease and the per-tenant
checkpoints in the database, `nats_client` connects, and `command` is the CLI entry `run_relay`.
"""

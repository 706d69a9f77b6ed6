"""Webhooks: endpoints, Standard Webhooks signing and the delivery worker."""

"""Idempotency-Key: a retried POST or bulk PUT/DELETE replays the first answer, never acts twice."""

"""Adapters: the only modules that talk to AWS (boto3) or the local disk / SQLite."""

"""The Telegram test kit: a fake Bot API server and a player simulator.

Tests, the load benchmark and the offline demo drive the real bot through it over HTTP on
127.0.0.1. It imports nothing of the bot, so it can test any Bot API client.
"""

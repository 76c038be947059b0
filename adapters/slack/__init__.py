"""Slack adapter (slack-bolt): see adapters/slack/adapter.py."""

"""watcher: news monitoring for AUKUS Pillar II expansion, alerts to Slack."""

__version__ = "0.1.0"

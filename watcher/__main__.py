"""`python -m watcher` runs the CLI."""

from watcher.cli.main import main

main()

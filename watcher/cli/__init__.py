"""The `watcher` command line.

One module per command group, rendering for people and machines.
"""

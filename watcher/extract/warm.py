"""Imported by the extraction pool's forkserver: trafilatura loaded and its date tables built.

Workers fork from the forkserver, so whatever it has built they share
(copy-on-write) instead of building it again each: importing this module is
the warm-up (`watcher.extract.page.warm_up`), once per forkserver. Nothing
else imports it.
"""

from __future__ import annotations

from watcher.extract.page import warm_up

warm_up()

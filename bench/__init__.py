"""``make bench``: how fast the plugin works against a simulated iconik, and how that compares.

The plugin runs as users run it: ``functions-framework`` serving ``main.py`` in a process of its
own, answering clicks and doing the work in the background (in-process, or through the Cloud Tasks
emulator). iconik is the sandbox (:mod:`iconik_sandbox`) with a latency on every request and a
rate limit that answers 429 past it. Each scenario clicks, waits for the iconik job to end, and
reads from the sandbox what was asked of iconik. ``python -m bench --help`` lists the knobs.

Modules: :mod:`bench.simulated` (the sandbox in a process of its own), :mod:`bench.lab` (the
plugin server, clicks, what iconik saw), :mod:`bench.figures` (figures, targets and the table),
:mod:`bench.queue` (the Cloud Tasks emulator), :mod:`bench.scenarios`.
"""

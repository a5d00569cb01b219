"""``make bench``: how fast the plugin works against a simulated iconik, and how that compares.

The plugin runs as users run it: ``functions-framework`` serving ``main.py`` in a process of its
own, answering clicks and doing the work in the background (in-process, or through the Cloud Tasks
emulator). iconik is the sandbox (:mod:`iconik_sandbox`) with a latency on every request and a
rate limit that answers 429 past it. Each scenario clicks, waits for the iconik job to end, and
reads from the sandbox what was asked of iconik. ``python -m bench --help`` lists the knobs.

Modules: :mod:`bench.simulated` (the sandbox in a process of its own), :mod:`bench.processes`
(the plugin as a real server; starting and stopping processes), :mod:`bench.lab` (seeding,
clicks, what iconik saw), :mod:`bench.figures` (figures, targets and the table),
:mod:`bench.queue` (the Cloud Tasks emulator), :mod:`bench.scenarios` (the scenarios, by what
they measure, and their registry), :mod:`bench.audit` (the audit scenario).

Imports: the standard library, requests, this package, the sandbox (``iconik_sandbox``), the
plugin (``b2_iconik``, for its constants: the bench runs the plugin itself in a process of its
own) and, from the tests, only the Cloud Tasks dispatcher the end-to-end tests use
(``tests.scenarios.dispatcher``). Never ``deploy``. ``tests/test_rooms.py`` checks this.
"""

"""Property-based no-loss tests: random catalogues, faults and interleavings (issue 12).

``catalogue`` generates iconik catalogues as plain values and builds them in the sandbox's State;
``scenario`` adds the actions, the fault schedule and the interleaving; ``oracle`` is the
independent check of the safety rule; ``world`` drives the plugin's own steps through a scripted
queue on a fake clock (its pieces in ``items``, the plugin's requests through ``wire``).
``tests/test_properties.py`` states the properties.
"""

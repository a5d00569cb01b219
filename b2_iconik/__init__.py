"""Backblaze B2 Storage Plugin for iconik: the core package.

Add to LucidLink copies assets' files from a B2 storage to a LucidLink storage through iconik;
Remove from LucidLink deletes the LucidLink copy only once every file is verified on B2.
``main.py`` adapts it to Google Cloud Functions; the same code runs under functions-framework.
"""

__version__ = "2.0.0"

"""The editor side of caic: the language server (`server.py`, needs pygls) and its features.

Importing this package imports nothing heavy; `formatting.py`, which `caic fmt`
shares, needs no pygls either.
"""

"""Small helpers every layer may use: atomic file writes, inter-process locks, the cache directory.

Imports nothing else from kdnas (the bottom layer).
"""

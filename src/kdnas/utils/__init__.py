"""Small helpers every layer may use: atomic writes and file locks, the cache directory, integer checks,
torch thread/device context, DDP rank helpers. Imports only :mod:`kdnas.errors` from kdnas.
"""

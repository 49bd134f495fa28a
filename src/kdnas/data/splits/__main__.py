"""``python -m kdnas.data.splits``: an entry point (like ``train.py``), so it may call :mod:`kdnas.pipelines`."""

from kdnas.pipelines.splits import main

if __name__ == "__main__":
    main()

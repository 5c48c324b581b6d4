"""``python -m mockserver``: the langdock-mock command line."""

from __future__ import annotations

from mockserver.cli import main

if __name__ == "__main__":
    main()

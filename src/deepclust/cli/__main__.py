"""``python -m deepclust.cli``: the ``deepclust`` command."""
from .program import main

if __name__ == "__main__":
    main()

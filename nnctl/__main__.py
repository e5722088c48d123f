"""`python -m nnctl` runs the command line."""

from nnctl.cli import main

if __name__ == "__main__":
    main()

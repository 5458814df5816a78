"""`python -m cifarctl`: the same command line as the `cifarctl` entry point."""

from cifarctl.cli.app import main

main()

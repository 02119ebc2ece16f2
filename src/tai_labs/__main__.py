"""`python -m tai_labs` runs the CLI."""

from tai_labs.cli.app import main

main()

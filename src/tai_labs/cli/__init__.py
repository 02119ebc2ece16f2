"""The `tai-labs` command line (typer). The only layer that prints and exits."""

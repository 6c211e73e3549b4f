"""`python -m coinstream`."""

from coinstream.cli import app

app(prog_name="coinstream")

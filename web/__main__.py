"""`python -m web …` runs the same `modelyard` command."""

from web.cli import main

main()

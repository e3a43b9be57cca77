"""`python -m web …` runs the same `modelyard` command."""

from web.commands import main

main()

# The C extension _runs.c (see runs.py).
NEVER: int
NAMED: int
ASK: int

def runs(text: str, shaped: int, shortest_international: int, /) -> list[tuple[int, int, int]]: ...

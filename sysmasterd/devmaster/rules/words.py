"""Splitting a PROGRAM/RUN/builtin command line into words.

Its own module: a builtin's argv is split the same way, and `devctl test-builtin` must not load the
spawner (subprocess, ctypes, logging) to do it."""


def split_command(cmd: str) -> list[str]:
    """Whitespace-separated words; quotes removed, backslashes kept, unbalanced quotes tolerated."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    quote = ""
    for ch in cmd:
        if quote:
            if ch == quote:
                quote = ""
            else:
                cur.append(ch)
        elif ch in "'\"":
            quote = ch
            in_word = True
        elif ch in " \t\n\r":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
    if in_word:
        words.append("".join(cur))
    return words

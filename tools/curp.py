#!/usr/bin/env python3
"""CURP helpers for demo data and tests: the real check digit (DESIGN.md 3).

    tools/curp.py check CURP        exit 0 when the check digit is right
    tools/curp.py make PREFIX17     print PREFIX17 + its check digit
"""
import sys

ALPHABET = "0123456789ABCDEFGHIJKLMN\u00d1OPQRSTUVWXYZ"


def check_digit(first17: str) -> str:
    if len(first17) != 17:
        raise ValueError("a CURP check digit needs exactly 17 characters")
    total = 0
    for i, ch in enumerate(first17):
        idx = ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"character {ch!r} is not allowed in a CURP")
        total += idx * (18 - i)
    return str((10 - total % 10) % 10)


def make(first17: str) -> str:
    return first17 + check_digit(first17)


def synthetic(n: int, sex: str = "H") -> str:
    """A valid-format CURP numbered n (demo and test subjects)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    a = letters[(n // 676) % 26] + letters[(n // 26) % 26] + letters[n % 26]
    yy = 60 + (n % 40)
    mm = 1 + (n % 12)
    dd = 1 + (n % 28)
    return make(f"X{a}{yy:02d}{mm:02d}{dd:02d}{sex}DFRRR{n % 10}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        c = sys.argv[2]
        ok = len(c) == 18 and check_digit(c[:17]) == c[17]
        print("valid" if ok else "invalid")
        sys.exit(0 if ok else 1)
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        print(make(sys.argv[2]))
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)

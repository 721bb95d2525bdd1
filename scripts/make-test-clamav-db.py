#!/usr/bin/env python3
"""make-test-clamav-db.py DIR — writes the ClamAV signature database tidegate ships for tests and
the demo into DIR (created if missing): DIR/tidegate-test.ndb, two body-based signatures.

- `Eicar-Test-Signature`: the EICAR anti-virus test file. The string is assembled here from parts,
  so that no file in the repository contains it whole (some scanners flag such files).
- `Tidegate.Test.Signature`: the project's own test signature; it matches the marker string
  TEST_SIGNATURE_MARKER below anywhere in a scanned file (docs/testing-engines.md).

clamd reports names from such an unsigned database with `.UNOFFICIAL` appended
(`Eicar-Test-Signature.UNOFFICIAL FOUND`). No network, no freshclam.
"""
import os
import sys

EICAR_NAME = "Eicar-Test-Signature"
TEST_SIGNATURE_NAME = "Tidegate.Test.Signature"
TEST_SIGNATURE_MARKER = "TIDEGATE-TEST-SIGNATURE-7f3c9e1a"
DB_FILE = "tidegate-test.ndb"


def eicar():
    """The 68-byte EICAR test file (https://www.eicar.org/download-anti-malware-testfile/)."""
    parts = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*")
    return "".join(parts).encode()


def ndb_lines():
    """Extended-signature lines: Name:TargetType(0 = any file):Offset(* = anywhere):hex."""
    return [f"{EICAR_NAME}:0:*:{eicar().hex()}",
            f"{TEST_SIGNATURE_NAME}:0:*:{TEST_SIGNATURE_MARKER.encode().hex()}"]


def write(directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, DB_FILE)
    with open(path, "w") as f:
        f.write("\n".join(ndb_lines()) + "\n")
    return path


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(write(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LUO demo service: state as files in a tmpfs directory, kept by a luo-state@ keeper.

It does not know about LUO or fd stores: on start it fills STATE_DIR (default
/run/luo-demo-files) with LUO_DEMO_FILES small random files when the directory
is empty, and records in /run/luo-demo-files.status whether it found them there
(restored) or made them (new), with one sha256 over every file's name, owner,
mode and content. /run is emptied by every boot, a live update included, so the
files only come back when a luo-state@ keeper restored them before this start.
"""
from __future__ import annotations

import hashlib
import os
import sys

STATE_DIR = os.environ.get("LUO_DEMO_FILES_DIR", "/run/luo-demo-files")
STATUS = STATE_DIR + ".status"


def tree_sha256(root):
    """One sha256 over each file's relative name, owner, mode and content, in name order."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            digest.update(("%s %d:%d %o\n" % (os.path.relpath(path, root), info.st_uid, info.st_gid, info.st_mode)).encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def populate(root, count):
    """COUNT files of 1 to 4 KiB of random bytes, in sub-directories of 100."""
    for index in range(count):
        directory = os.path.join(root, "%03d" % (index // 100))
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "item-%05d.bin" % index)
        with open(path, "wb") as handle:
            handle.write(os.urandom(1024 + index % 3072))
        os.chmod(path, 0o640 if index % 2 else 0o600)


def main():
    os.makedirs(STATE_DIR, mode=0o750, exist_ok=True)
    restored = bool(os.listdir(STATE_DIR))
    if not restored:
        populate(STATE_DIR, int(os.environ.get("LUO_DEMO_FILES", "1000")))
    digest = tree_sha256(STATE_DIR)
    with open(STATUS + ".tmp", "w", encoding="ascii") as handle:
        handle.write("%s %s\n" % ("restored" if restored else "new", digest))
    os.replace(STATUS + ".tmp", STATUS)
    print("luo-demo-files: %s state, sha256 %s" % ("restored" if restored else "new", digest))
    return 0


if __name__ == "__main__":
    sys.exit(main())

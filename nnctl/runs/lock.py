"""One process writes a folder at a time: an exclusive lock on <folder>/.lock.

The lock is an flock(2) on a file that holds the owner's pid. The kernel releases it when the
process ends however it ends (SIGKILL included), so a folder that says `running` while nobody
holds its lock was left by a killed process: `nnctl runs` shows it as `stale`.
"""

import fcntl
import os
import socket
from pathlib import Path

from nnctl.atomic import file_mode
from nnctl.errors import RunError

LOCK_FILE = ".lock"


class FolderLock:
    """Held from acquire() to release() (or the end of a with block)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.fd = None

    def acquire(self):
        """Take the lock or raise RunError naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(in_use_message(self.folder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc):
        self.release()


def holder(folder):
    """The owner's "pid host" if a process holds folder's lock, else None (read-only check:
    the folder is not changed)."""
    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 200).decode(errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def in_use_message(folder):
    owner = holder(folder) or "another process"
    pid, _, host = owner.partition(" ")
    who = f"process {pid}" + (f" on {host}" if host else "") if pid.isdigit() else owner
    return f"{folder} is in use by {who}; wait for it to finish or stop it first"

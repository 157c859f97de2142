"""Files inside a chosen folder, reached without following links.

An output or results folder is the user's choice (it may itself be reached through links of
the user's making); what lies inside it is the program's. Every write into such a folder, and
every read of a results folder, goes through this module:

- a path below the folder is walked one name at a time from an open handle on the folder
  (``openat`` with ``O_NOFOLLOW``): a symbolic link anywhere below it (``OUT/parts ->
  elsewhere``) is refused, never followed, and a folder swapped for a link while a command
  runs cannot redirect it, because each step holds a handle on the folder it opened;
- a file is written under a temporary name created with ``O_EXCL | O_NOFOLLOW`` and renamed
  into place, so it is whole or absent, and a link at its name is replaced, not written
  through; a log (``runs.jsonl``) is appended to only if it is a regular file;
- a file is read only if it is a regular file (a FIFO would block forever, a device could be
  endless): opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat`` before a byte is
  read, up to a size limit.

Refusals are :class:`~sim.errors.ResultsError`\\ s naming the path and what is allowed.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import IO

from sim.errors import ResultsError

#: largest file read from a results folder by :func:`read_bytes` (a scenario as loaded, a
#: JSON index; tables are opened with :func:`open_file` and read by their own readers)
MAX_READ_BYTES = 256 * 2**20

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW
_counter = itertools.count()


def _parts(rel: str | os.PathLike[str]) -> list[str]:
    parts = [p for p in PurePosixPath(os.fspath(rel)).parts if p not in ("", ".")]
    if any(p in ("..", "/") for p in parts):
        raise ValueError(f"{rel}: a path inside the folder is expected")
    return parts


_LINK = "is a symbolic link; nothing is read or written through links in a results folder"
_NOT_REGULAR = "is not a regular file (a pipe, device or socket)"


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return _LINK
    if exc.errno == errno.ENOTDIR:
        return "is not a folder"
    if exc.errno == errno.ENOENT:
        return "missing"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    if exc.errno == errno.ENXIO:
        return _NOT_REGULAR
    return exc.strerror or type(exc).__name__


def refusal(path: Path, exc: OSError | str) -> ResultsError:
    """A ResultsError for ``path``: an OSError in words, or the reason given."""
    return ResultsError(f"{path}: {exc if isinstance(exc, str) else _why(exc)}")


@contextmanager
def folder(root: str | Path, rel: str | os.PathLike[str] = "", *, create: bool = False
           ) -> Iterator[int]:  # fmt: skip
    """An open handle on the folder ``root/rel``, walked one name at a time without following
    links below ``root``; ``create``: make the folders that are missing (``root`` too)."""
    root = Path(root)
    names = _parts(rel)
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise refusal(root, "exists and is not a folder") from None
        except OSError as exc:
            raise refusal(root, exc) from None
    try:
        fds = [os.open(root, _DIR_FLAGS)]
    except OSError as exc:
        raise refusal(root, exc) from None
    try:
        here = root
        for name in names:
            here = here / name
            if create:
                try:
                    os.mkdir(name, 0o777, dir_fd=fds[-1])
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise refusal(here, exc) from None
            try:
                fds.append(os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=fds[-1]))
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(name, fds[-1]):
                    raise refusal(here, _LINK) from None  # Linux says ENOTDIR for a link
                raise refusal(here, exc) from None
        yield fds[-1]
    finally:
        for fd in fds:
            os.close(fd)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _split(rel: str | os.PathLike[str]) -> tuple[str, str]:
    parts = _parts(rel)
    if not parts:
        raise ValueError("a file name is expected")
    return "/".join(parts[:-1]), parts[-1]


def kind(root: str | Path, rel: str | os.PathLike[str]) -> str:
    """What ``root/rel`` is, without following links: "missing", "file" (regular), "folder",
    "link" or "other" (a FIFO, device or socket). A link above it counts as "link"."""
    parent, name = _split(rel)
    try:
        with folder(root, parent) as fd:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except ResultsError as exc:
        text = str(exc)
        return "link" if "symbolic link" in text else "missing"
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"
    return mode_kind(st.st_mode)


#: what each kind of entry is, in words
KIND_WORDS = {"file": "a file", "folder": "a folder", "link": "a symbolic link",
              "other": "a pipe, device or socket", "missing": "missing"}  # fmt: skip


def mode_kind(mode: int) -> str:
    """ "file", "folder", "link" or "other" for an ``lstat`` mode."""
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "other"


def entries(root: str | Path, rel: str | os.PathLike[str] = "") -> dict[str, str]:
    """The entries of the folder ``root/rel`` and what each is (:func:`mode_kind`), sorted."""
    with folder(root, rel) as fd:
        out = {}
        for name in sorted(os.listdir(fd)):
            with suppress(FileNotFoundError):
                out[name] = mode_kind(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
        return out


@contextmanager
def writer(root: str | Path, rel: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file to write ``root/rel`` into: created under a temporary name beside it and
    renamed into place when the block succeeds (replacing a file, or a link, of that name);
    removed if the block fails. Missing folders on the way are made."""
    parent, name = _split(rel)
    root = Path(root)
    with folder(root, parent, create=True) as dfd:
        tmp = f".{name}.{os.getpid()}-{next(_counter)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | os.O_CLOEXEC,
                         0o666, dir_fd=dfd)  # fmt: skip
        except OSError as exc:
            raise refusal(root / parent / name, exc) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
            try:
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as exc:
                raise refusal(root / parent / name, exc) from None
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise


def write_bytes(root: str | Path, rel: str | os.PathLike[str], data: bytes) -> None:
    """Write ``root/rel`` atomically (:func:`writer`)."""
    with writer(root, rel) as fh:
        fh.write(data)


def write_text(root: str | Path, rel: str | os.PathLike[str], text: str) -> None:
    """Write ``root/rel`` as UTF-8 text, atomically (:func:`writer`)."""
    write_bytes(root, rel, text.encode("utf-8"))


def open_append(root: str | Path, rel: str | os.PathLike[str]) -> IO[str]:
    """``root/rel`` opened to append text lines (created if missing): a regular file only."""
    parent, name = _split(rel)
    root = Path(root)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW | os.O_CLOEXEC
    with folder(root, parent, create=True) as dfd:
        try:
            fd = os.open(name, flags, 0o666, dir_fd=dfd)
        except OSError as exc:
            raise refusal(root / parent / name, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise refusal(root / parent / name, _NOT_REGULAR)
    return io.TextIOWrapper(os.fdopen(fd, "ab"), encoding="utf-8")


def open_file(root: str | Path, rel: str | os.PathLike[str]) -> IO[bytes]:
    """``root/rel`` opened for reading: a regular file reached without links, or a
    ResultsError ("missing", "is a symbolic link", "is not a regular file", ...)."""
    parent, name = _split(rel)
    root = Path(root)
    with folder(root, parent) as dfd:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as exc:
            raise refusal(root / parent / name, exc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "is a folder, not a file" if stat.S_ISDIR(mode) else _NOT_REGULAR
        raise refusal(root / parent / name, what)
    return os.fdopen(fd, "rb")


def read_bytes(root: str | Path, rel: str | os.PathLike[str], limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file ``root/rel`` (:func:`open_file`), at most ``limit``."""
    with open_file(root, rel) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise refusal(Path(root) / os.fspath(rel), f"larger than {limit:,} bytes")
    return data


def read_text(root: str | Path, rel: str | os.PathLike[str], limit: int = MAX_READ_BYTES) -> str:
    """The UTF-8 text of the regular file ``root/rel`` (:func:`read_bytes`)."""
    data = read_bytes(root, rel, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise refusal(Path(root) / os.fspath(rel), "not UTF-8 text") from None


__all__ = [
    "entries",
    "folder",
    "kind",
    "open_append",
    "open_file",
    "read_bytes",
    "read_text",
    "refusal",
    "write_bytes",
    "write_text",
    "writer",
]

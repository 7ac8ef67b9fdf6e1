"""Errors the package raises; callers turn them into Chinese messages and exit codes."""


class QAError(Exception):
    """Base class: its message is shown to the user as is (in Chinese)."""


class DocumentError(QAError):
    """A corpus file cannot be read."""


class InputError(QAError):
    """A question that cannot be answered as given (empty, too long, control characters)."""


class IndexError_(QAError):
    """The index is missing, corrupt or built by another process."""


DISK_FULL = "磁盘空间不足"


def is_disk_full(exc: BaseException) -> bool:
    """An OSError (ENOSPC, EDQUOT) or a library's error saying the disk or database is full."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk is full" in text or "disk quota" in text

"""Errors the package raises; callers turn them into Chinese messages and exit codes."""


class QAError(Exception):
    """Base class: its message is shown to the user as is (in Chinese)."""


class DocumentError(QAError):
    """A corpus file cannot be read."""


class InputError(QAError):
    """A question that cannot be answered as given (empty, too long, control characters)."""


class IndexError_(QAError):
    """The index is missing, corrupt or built by another process."""

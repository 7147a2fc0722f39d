"""Exceptions and warnings that reach the user as one clear line."""


class SerError(Exception):
    """Base class of errors the command line reports as one line (exit code 2)."""


class ParameterError(SerError, ValueError):
    """A bad argument or a bad input file; the message names the file and the problem."""


class SerWarning(UserWarning):
    """Something the user should know about that does not stop the run (a skipped file, a silent clip)."""

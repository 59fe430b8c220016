"""The one exception type that means "the user's input is wrong"."""


class Hw3Error(Exception):
    """Bad input, missing or corrupt files, nonsense options.

    The CLI prints the message as one line on stderr and exits with code 2; library code raises it
    instead of printing, and never with a traceback in mind.
    """

    exit_code = 2
